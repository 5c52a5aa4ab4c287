import { describe, expect, it } from 'vitest';
import { ConnectionBudget } from '../../client/connection-budget.js';

describe('ConnectionBudget', () => {
  it('gives each remote peer a few connections per window, then says when the next one fits', () => {
    const budget = new ConnectionBudget({ perPeer: 3, perPeerWindowMs: 1000 }, false);
    expect([0, 10, 20, 30].map((t) => budget.take('evil', t))).toEqual([true, true, true, false]);
    expect(budget.take('honest', 30)).toBe(true);
    expect(budget.waitFor('evil', 500)).toBe(500);
    expect(budget.take('evil', 1000)).toBe(true);
    expect(budget.refused).toBe(1);
    expect(budget.created).toBe(5);
  });

  it('a tab has a lifetime budget that no single peer can spend: 600 offers from one peer cost 6', () => {
    const budget = new ConnectionBudget({}, true);
    let built = 0;
    for (let i = 0; i < 600; i++) if (budget.take('evil', i)) built++;
    expect(built).toBe(6);
    for (let i = 0; i < 1000; i++) budget.take(`peer-${i}`, 0);
    expect(budget.created).toBe(400);
    expect(budget.take('latecomer', 0)).toBe(false);
  });

  it('Node peers have no lifetime bound by default', () => {
    const budget = new ConnectionBudget({}, false);
    for (let i = 0; i < 1000; i++) expect(budget.take(`peer-${i}`, 0)).toBe(true);
  });
});
