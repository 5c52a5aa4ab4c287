import type { Actor, ActorContext, DeactivateReason } from '../shared/index.js';

/** The seed's quickstart GameActor: a score and a level per player. */
export class GameActor implements Actor {
  score = 0;
  level = 1;

  constructor(readonly id: string) {}

  handleCall(payload: unknown): unknown {
    const action = (payload as { action?: unknown } | null)?.action;
    switch (action) {
      case 'increment_score':
        return ++this.score;
      case 'level_up':
        return ++this.level;
      case 'get_stats':
        return { score: this.score, level: this.level };
      default:
        throw new Error(`unknown action ${String(action)}`);
    }
  }

  handleCast(payload: unknown): void {
    if ((payload as { action?: unknown } | null)?.action === 'reset') this.score = 0;
  }

  /**
   * Durable: with a mesh `store` (`rtc-mesh-peer --store redis://...`, the demo's `?store=indexeddb`), a player's score and level
   * outlive every peer; without one, nothing changes. snapshot() and restore() below are what is stored.
   */
  static readonly durable = true;

  /** get_stats changes nothing: it needs no copy sent to the backups, nor a save to the store (see README). */
  static readOnly(payload: unknown): boolean {
    return (payload as { action?: unknown } | null)?.action === 'get_stats';
  }

  /** Handoff and replicas: a player keeps score and level when it moves or its owner vanishes. */
  snapshot(): unknown {
    return { score: this.score, level: this.level };
  }

  static restore(id: string, state: unknown): GameActor {
    const actor = new GameActor(id);
    const s = state as { score?: unknown; level?: unknown } | null;
    if (typeof s?.score === 'number') actor.score = s.score;
    if (typeof s?.level === 'number') actor.level = s.level;
    return actor;
  }
}

interface ChatMessage {
  readonly from: string;
  readonly text: string;
  readonly at: number;
}

/** A chat room keeping its last 50 messages. */
export class ChatRoomActor implements Actor {
  private messages: ChatMessage[] = [];

  constructor(readonly id: string) {}

  handleCall(payload: unknown, ctx: ActorContext): unknown {
    const p = (payload ?? {}) as { action?: unknown; from?: unknown; text?: unknown };
    if (p.action === 'post') {
      if (typeof p.text !== 'string' || p.text.length === 0) throw new Error('post needs a non-empty text');
      this.messages.push({ from: typeof p.from === 'string' ? p.from : 'anonymous', text: p.text, at: Date.now() });
      if (this.messages.length > 50) this.messages.shift();
      return { count: this.messages.length, room: ctx.id };
    }
    if (p.action === 'history') return this.messages;
    throw new Error(`unknown action ${String(p.action)}`);
  }

  snapshot(): unknown {
    return this.messages;
  }

  static restore(id: string, state: unknown): ChatRoomActor {
    const room = new ChatRoomActor(id);
    if (Array.isArray(state)) room.messages = state as ChatMessage[];
    return room;
  }
}

/** A payment account: async handlers, to show that one message at a time holds across awaits. */
export class PaymentActor implements Actor {
  private balance = 0;
  private readonly ledger: { amount: number; at: number }[] = [];

  constructor(
    readonly id: string,
    initArg?: unknown,
  ) {
    const opening = (initArg as { balance?: unknown } | undefined)?.balance;
    if (typeof opening === 'number') this.balance = opening;
  }

  async handleCall(payload: unknown): Promise<unknown> {
    const p = (payload ?? {}) as { action?: unknown; amount?: unknown };
    if (p.action === 'balance') return this.balance;
    if (p.action !== 'charge' && p.action !== 'refund') throw new Error(`unknown action ${String(p.action)}`);
    if (typeof p.amount !== 'number' || !(p.amount > 0)) throw new Error('amount must be a positive number');
    // Stands in for a call to a payment provider: the mailbox keeps the balance consistent across awaits.
    await new Promise((resolve) => setTimeout(resolve, 1));
    const delta = p.action === 'charge' ? -p.amount : p.amount;
    if (this.balance + delta < 0) throw new Error('insufficient funds');
    this.balance += delta;
    this.ledger.push({ amount: delta, at: Date.now() });
    return this.balance;
  }

  onDeactivate(_reason: DeactivateReason): void {
    this.ledger.length = 0;
  }
}

export const actors = { GameActor, ChatRoomActor, PaymentActor };
export default actors;
