/** Heap readings for the memory scenarios; the child must run with --expose-gc. */
const gc = (globalThis as { gc?: () => void }).gc;

/** Collects until garbage from what just ran is gone (several passes, a turn apart); returns heapUsed. */
export async function settleHeap(): Promise<number> {
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}
