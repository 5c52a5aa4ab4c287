/**
 * One sweep for all activations instead of a timer each: 100k idle actors cost one interval. Its period
 * follows the shortest idle timeout in use, so a short per-type timeout is honoured after a long one, and
 * it stops itself once nothing uses idle passivation.
 */
export class IdleSweep {
  private timer: ReturnType<typeof setInterval> | null = null;
  private period = Number.POSITIVE_INFINITY;

  /** `sweep` stops the quiet activations and says whether any activation still has an idle timeout. */
  constructor(private readonly sweep: () => boolean) {}

  ensure(idleMs: number): void {
    const period = Math.max(5, Math.min(1000, Math.floor(idleMs / 4)));
    if (this.timer !== null && period >= this.period) return;
    this.stop();
    this.period = period;
    this.timer = setInterval(() => {
      if (!this.sweep()) this.stop();
    }, period);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.period = Number.POSITIVE_INFINITY;
  }
}
