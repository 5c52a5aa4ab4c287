/**
 * Memory per idle actor: heap delta / count after activating `count` GameActors on a standalone mesh.
 * Needs --expose-gc (the bench starts this child with it). Everything the mesh keeps per actor counts:
 * the activation record, its key and activation-id strings, the Map entry, the actor instance and its id.
 */
import { Mesh } from '../../client/node.js';
import { GameActor } from '../../demo/actors.js';
import { settleHeap } from '../lib/heap.js';
import { serve } from '../lib/proc.js';
import { GAME, loadFresh } from '../lib/workload.js';

serve({
  run: async (args: { count: number }) => {
    const mesh = await Mesh.start({ capabilities: ['game'], actors: { GameActor } });
    // Warm the path first so code and inline caches are not counted as actor state.
    await loadFresh(mesh, GAME, 'warm_', 500, { total: 2000 });
    const before = await settleHeap();
    const rssBefore = process.memoryUsage().rss;
    const load = await loadFresh(mesh, GAME, 'player_', 500, { total: args.count });
    const after = await settleHeap();
    const rssAfter = process.memoryUsage().rss;
    const active = mesh.stats().activations.active;
    if (active !== args.count + 2000) throw new Error(`expected ${args.count + 2000} activations, got ${active}`);
    await mesh.stop();
    const stopped = await settleHeap();
    return {
      count: args.count,
      heapBefore: before,
      heapAfter: after,
      bytesPerActor: (after - before) / args.count,
      rssPerActor: (rssAfter - rssBefore) / args.count,
      heapAfterStop: stopped,
      activationRate: load.rate,
    };
  },
});
