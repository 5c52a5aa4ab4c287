/**
 * shared/ is the isomorphic core: it must run unchanged in browsers and in Node. This scans every file's
 * syntax tree: imports stay inside shared/ (or are bare, non-builtin packages), and the code references no
 * host global (window, document, process, Buffer, require, ...). Comments and strings do not count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedDir = join(root, 'shared');

/** Host-specific globals the core must not touch. setImmediate/__dirname & co. are Node-only too. */
const FORBIDDEN_GLOBALS = new Set([
  'window',
  'document',
  'process',
  'Buffer',
  'require',
  'global',
  'navigator',
  'localStorage',
  'self',
  '__dirname',
  '__filename',
  'setImmediate',
  'clearImmediate',
]);
const FORBIDDEN_DIRS = ['client', 'server', 'demo'];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]!]));

interface Violation {
  readonly file: string;
  readonly line: number;
  readonly what: string;
}

/** Is `node` an identifier in a position that can reference a variable (not a property or member name)? */
function isReferencePosition(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false;
  if (ts.isQualifiedName(parent) && parent.right === node) return false;
  if ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertySignature(parent)) && parent.name === node)
    return false;
  if (
    (ts.isMethodDeclaration(parent) || ts.isMethodSignature(parent) || ts.isGetAccessor(parent) || ts.isSetAccessor(parent)) &&
    parent.name === node
  )
    return false;
  if (ts.isEnumMember(parent) && parent.name === node) return false;
  if (ts.isBindingElement(parent) && parent.propertyName === node) return false;
  if ((ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) && parent.propertyName === node) return false;
  if (ts.isLabeledStatement(parent) || ts.isBreakOrContinueStatement(parent)) return false;
  return true;
}

const parsedLibraries = new Map<string, ts.SourceFile>();

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  typeRoots: [join(root, 'node_modules', '@types')],
  noEmit: true,
  skipLibCheck: true,
};

/**
 * Checks files (real ones, or in-memory sources keyed by path) with a full TypeScript program, so an
 * identifier counts as a host global only if it resolves to a declaration outside shared/ (lib.dom.d.ts,
 * @types/node) or to nothing at all. Local variables that happen to be called `self` or `window` are fine.
 */
export function checkFiles(files: ReadonlyMap<string, string | null>): Violation[] {
  const host = ts.createCompilerHost(COMPILER_OPTIONS, true);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => files.get(resolve(f)) ?? readFile(f);
  host.fileExists = (f) => (files.get(resolve(f)) ?? null) !== null || fileExists(f);
  host.getSourceFile = (f, languageVersion, onError, shouldCreate) => {
    const text = files.get(resolve(f));
    if (typeof text === 'string') return ts.createSourceFile(f, text, languageVersion, true);
    // Library and dependency files never change during a run: parse them once for every program.
    const cached = parsedLibraries.get(f);
    if (cached) return cached;
    const parsed = getSourceFile(f, languageVersion, onError, shouldCreate);
    if (parsed) parsedLibraries.set(f, parsed);
    return parsed;
  };
  const program = ts.createProgram([...files.keys()], COMPILER_OPTIONS, host);
  const checker = program.getTypeChecker();
  const found: Violation[] = [];
  for (const path of files.keys()) {
    const source = program.getSourceFile(path);
    if (!source) throw new Error(`could not load ${path}`);
    const file = relative(root, path);
    const fileDir = dirname(path);
    const report = (node: ts.Node, what: string): void => {
      found.push({ file, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, what });
    };
    const isHostGlobal = (node: ts.Node): boolean => {
      const symbol = checker.getSymbolAtLocation(node);
      const declarations = symbol?.declarations ?? [];
      if (declarations.length === 0) return true; // unresolved: a free reference to something the host must provide
      return declarations.some((d) => {
        const where = resolve(d.getSourceFile().fileName);
        return relative(sharedDir, where).startsWith('..') && !files.has(where);
      });
    };
    const checkSpecifier = (node: ts.Node, spec: string): void => {
      if (spec.startsWith('node:')) return report(node, `imports the Node module "${spec}"`);
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(fileDir, spec);
        const rel = relative(sharedDir, target);
        if (rel.startsWith('..') || rel.startsWith(sep)) {
          const top = relative(root, target).split(sep)[0] ?? '';
          report(node, `imports "${spec}" from outside shared/${FORBIDDEN_DIRS.includes(top) ? ` (${top}/)` : ''}`);
        }
        return;
      }
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (BUILTINS.has(pkg)) report(node, `imports the Node builtin "${spec}"`);
      if (FORBIDDEN_DIRS.includes(pkg)) report(node, `imports "${spec}"`);
    };
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        checkSpecifier(node, node.moduleSpecifier.text);
      } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
        const expr = node.moduleReference.expression;
        if (ts.isStringLiteral(expr)) checkSpecifier(node, expr.text);
        report(node, 'uses import = require()');
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteralLike(arg)) checkSpecifier(node, arg.text);
        else report(node, 'uses a dynamic import with a computed specifier');
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
        checkSpecifier(node, node.argument.literal.text);
      } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text) && isReferencePosition(node)) {
        if (ts.isShorthandPropertyAssignment(node.parent)) {
          const value = checker.getShorthandAssignmentValueSymbol(node.parent);
          const decls = value?.declarations ?? [];
          if (
            decls.length === 0 ||
            decls.some(
              (d) =>
                relative(sharedDir, resolve(d.getSourceFile().fileName)).startsWith('..') &&
                !files.has(resolve(d.getSourceFile().fileName)),
            )
          ) {
            report(node, `references ${node.text}`);
          }
        } else if (isHostGlobal(node)) {
          report(node, `references ${node.text}`);
        }
      } else if (
        ts.isPropertyAccessExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'globalThis' &&
        FORBIDDEN_GLOBALS.has(node.name.text)
      ) {
        report(node, `references globalThis.${node.name.text}`);
      } else if (
        ts.isElementAccessExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'globalThis' &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        FORBIDDEN_GLOBALS.has(node.argumentExpression.text)
      ) {
        report(node, `references globalThis['${node.argumentExpression.text}']`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** Every .ts file under shared/, as a path relative to it (subfolders included). */
const sharedFiles = readdirSync(sharedDir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.split(sep).join('/'))
  .sort();

describe('the checker itself', () => {
  // Every probe is a separate in-memory file of shared/; one program checks them all.
  const probes: Record<string, { readonly text: string; readonly expected: readonly string[] }> = {
    nodeScheme: { text: `import fs from 'node:fs'; void fs;`, expected: ['imports the Node module "node:fs"'] },
    bareBuiltin: { text: `import { EventEmitter } from 'events'; void EventEmitter;`, expected: ['imports the Node builtin "events"'] },
    client: { text: `export * from '../client/index.js';`, expected: ['imports "../client/index.js" from outside shared/ (client/)'] },
    serverType: {
      text: `import type { X } from '../server/a.js'; let x: X | undefined; void x;`,
      expected: ['imports "../server/a.js" from outside shared/ (server/)'],
    },
    demoDynamic: {
      text: `export const m = import('../demo/actors.js');`,
      expected: ['imports "../demo/actors.js" from outside shared/ (demo/)'],
    },
    importType: { text: `export type T = import('node:crypto').Hash;`, expected: ['imports the Node module "node:crypto"'] },
    window: { text: `export const w = window.innerWidth;`, expected: ['references window'] },
    document: { text: `document.title = 'x';`, expected: ['references document'] },
    typeofProcess: { text: `export const p = typeof process !== 'undefined';`, expected: ['references process'] },
    buffer: { text: `export const b = Buffer.from('x');`, expected: ['references Buffer'] },
    require: { text: `export const x: unknown = require('y');`, expected: ['references require'] },
    globalThisProcess: { text: `export const p = globalThis.process;`, expected: ['references globalThis.process'] },
    globalThisIndex: { text: `export const p: unknown = globalThis['Buffer'];`, expected: ["references globalThis['Buffer']"] },
    setImmediate: { text: `setImmediate(() => undefined);`, expected: ['references setImmediate'] },
    shorthand: { text: `export const o = { window };`, expected: ['references window'] },
    globalSelf: { text: `export const me = self.location;`, expected: ['references self'] },
    clean: {
      text: `
        // runs in one process, like window.document in a browser; require() nothing
        /** Buffer and process are mentioned here only. */
        export const text = 'process window document Buffer require(';
        export interface O { readonly window?: number; process(): void }
        export class L { private readonly window = 1; process(): number { return this.window; } }
        const o = { window: 1, document: 2 };
        export const n = o.window + o.document;
        export { fromWire } from './frames.js';
        import { Encoder } from 'cbor-x';
        const self = 'me';
        const window2 = { self };
        function f(process: number): number { const document = process; return document; }
        void [Encoder, window2, f];
      `,
      expected: [],
    },
  };
  const paths = new Map(Object.keys(probes).map((name) => [name, join(sharedDir, `__purity_probe_${name}.ts`)]));
  const results = checkFiles(new Map(Object.entries(probes).map(([name, probe]) => [paths.get(name)!, probe.text])));

  it.each(Object.keys(probes))('probe %s gives exactly the expected findings', (name) => {
    const file = relative(root, paths.get(name)!);
    expect(results.filter((v) => v.file === file).map((v) => v.what)).toEqual(probes[name]!.expected);
  });
});

describe('shared/ is isomorphic', () => {
  it('has the core files', () => {
    for (const f of [
      'placement/hash.ts',
      'placement/shards.ts',
      'placement/placement.ts',
      'placement/membership.ts',
      'wire/frames.ts',
      'wire/codec.ts',
      'wire/frame-link.ts',
      'wire/memory-transport.ts',
      'actors/runtime.ts',
      'actors/actor.ts',
      'mesh.ts',
      'errors.ts',
    ]) {
      expect(sharedFiles).toContain(f);
    }
  });

  const violations = checkFiles(new Map(sharedFiles.map((f) => [join(sharedDir, f), readFileSync(join(sharedDir, f), 'utf8')])));

  it.each(sharedFiles)('shared/%s imports nothing host-specific and references no host globals', (file) => {
    expect(violations.filter((v) => v.file === join('shared', ...file.split('/')))).toEqual([]);
  });
});
