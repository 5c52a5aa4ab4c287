/**
 * FileStore: durable actor state for ONE Node process, in a directory of its own.
 *
 * One file per actor, named by the SHA-256 of `storeKeyString(key)` (ids may be 4096 characters, longer
 * than a file name may be), holding the key itself, the version and the data. A save writes a temporary
 * file and renames it over the record, so a reader or a crash sees the old record or the new one, never
 * half of one. The version check and the write are atomic only because every operation on a key runs
 * after the previous one on that key has finished, and that queue is in this process's memory:
 *
 *   TWO PROCESSES MUST NOT SHARE A DIRECTORY. Nothing stops them, and two activations of one actor in two
 *   processes could then both pass the version check and the later rename would win silently. For state
 *   shared by several processes or machines use RedisStore.
 *
 * Durability: with `fsync` (the default) a save resolves only after the file's data and the directory entry
 * of the rename are on disk (fsync of the file, then of the directory), so it survives a power cut. With
 * `fsync: false` it survives the process crashing but not the machine: the OS may still hold the write.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, StoreConflictError, StoreUnavailableError, describeThrown } from '../../shared/errors.js';
import { abortable, storeAborted } from '../../shared/stores/abortable.js';
import { conflict } from '../../shared/stores/memory-store.js';
import { storeKeyString, type StateStore, type StoredRecord, type StoreKey } from '../../shared/stores/state-store.js';

export interface FileStoreOptions {
  /** fsync each record and the directory before a save or delete resolves (default true; see above). */
  readonly fsync?: boolean | undefined;
}

/*
 * A record file: a 24-byte header, then the key (UTF-8), then the data.
 *   0  'RMS1' (rtc-mesh state, format 1)
 *   4  u32 LE  byte length of the key
 *   8  u64 LE  version (>= 1)
 *  16  u64 LE  byte length of the data
 * The lengths make a truncated file (only possible with fsync off and a machine crash) detectable.
 */
const MAGIC = Buffer.from('RMS1', 'latin1');
const HEADER_BYTES = 24;
const RECORD_SUFFIX = '.rec';
const TEMP_SUFFIX = '.tmp';
/**
 * Tells this process's temporary files from those a crashed run left behind (removed when a store opens
 * the directory). Not the pid: in a container every restart may get the same one.
 */
const PROCESS_TAG = randomBytes(6).toString('hex');
let tempCounter = 0;

/**
 * The per-file queues, shared by every FileStore of this process: two instances on one directory (a store
 * reopened while the old one finishes, tests) still never interleave on a key.
 */
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(path: string, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(path) ?? Promise.resolve();
  const run = previous.then(task);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return run;
}

interface Header {
  readonly version: number;
  readonly keyLength: number;
  readonly dataLength: number;
}

export class FileStore implements StateStore {
  readonly name = 'file';
  /** The absolute directory the records are in. */
  readonly directory: string;
  private readonly fsync: boolean;
  private ready: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();

  /** `directory` is created on first use if missing. */
  constructor(directory: string, options: FileStoreOptions = {}) {
    if (typeof directory !== 'string' || directory.length === 0) throw new InvalidArgumentError('FileStore needs a directory');
    this.directory = resolve(directory);
    this.fsync = options.fsync ?? true;
  }

  /** The file holding `key`'s record (whether or not it exists yet). */
  fileFor(key: StoreKey): string {
    return join(this.directory, createHash('sha256').update(storeKeyString(key)).digest('hex') + RECORD_SUFFIX);
  }

  load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null> {
    return this.operation(key, signal, 'load', async (file, keyString) => {
      const handle = await openIfExists(file, 'r');
      if (handle === null) return null;
      try {
        const header = await readHeader(handle, file, keyString);
        const data = new Uint8Array(header.dataLength);
        await readExactly(handle, data, HEADER_BYTES + header.keyLength, file);
        return { data, version: header.version };
      } finally {
        await handle.close();
      }
    });
  }

  save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number> {
    // Copied now: the write happens after this call returns, the caller may reuse its buffer meanwhile.
    const bytes = data.slice();
    return this.operation(key, signal, 'save', async (file, keyString) => {
      const current = await this.versionOf(file, keyString);
      if (current !== expected) throw conflict(key, expected, current);
      const version = current + 1;
      const temp = `${file}.${PROCESS_TAG}.${++tempCounter}${TEMP_SUFFIX}`;
      try {
        const handle = await open(temp, 'wx');
        try {
          const keyBytes = Buffer.from(keyString, 'utf8');
          const header = Buffer.alloc(HEADER_BYTES);
          MAGIC.copy(header, 0);
          header.writeUInt32LE(keyBytes.length, 4);
          header.writeBigUInt64LE(BigInt(version), 8);
          header.writeBigUInt64LE(BigInt(bytes.length), 16);
          await writeAll(handle, [header, keyBytes, bytes]);
          if (this.fsync) await handle.sync();
        } finally {
          await handle.close();
        }
        // The commit point: an operation aborted before it leaves no trace.
        if (signal.aborted) throw storeAborted(this.name);
        await rename(temp, file);
      } catch (error) {
        await unlink(temp).catch(() => undefined);
        throw error;
      }
      if (this.fsync) await syncDirectory(this.directory);
      return version;
    });
  }

  delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void> {
    return this.operation(key, signal, 'delete', async (file, keyString) => {
      const current = await this.versionOf(file, keyString);
      if (current === 0) return;
      if (current !== expected) throw conflict(key, expected, current);
      if (signal.aborted) throw storeAborted(this.name);
      await unlink(file);
      if (this.fsync) await syncDirectory(this.directory);
    });
  }

  /** Waits for the operations under way (so no temporary file is left half-written), then refuses new ones. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= Promise.allSettled([...this.inFlight]).then(() => undefined);
    return this.closing;
  }

  /**
   * Runs `task` after the earlier operations on the same file; the caller's promise rejects as soon as the
   * signal aborts, while the task (if it started) finishes in the queue so the next one sees its result.
   */
  private operation<T>(
    key: StoreKey,
    signal: AbortSignal,
    what: string,
    task: (file: string, keyString: string) => Promise<T>,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError(`the file store in ${this.directory} is closed`));
    if (signal.aborted) return Promise.reject(storeAborted(this.name));
    const keyString = storeKeyString(key);
    const file = this.fileFor(key);
    const work = serialized(file, async () => {
      if (signal.aborted) throw storeAborted(this.name);
      await this.prepare();
      try {
        return await task(file, keyString);
      } catch (error) {
        if (error instanceof StoreUnavailableError || error instanceof StoreConflictError) throw error;
        // The key string may be 12 KB (a 4096-character id, percent-encoded): enough of it to recognise.
        throw new StoreUnavailableError(
          `file store ${this.directory}: ${what} ${keyString.slice(0, 200)} failed: ${describeThrown(error)}`,
          {
            directory: this.directory,
            ...(errnoCode(error) === undefined ? {} : { errno: errnoCode(error) }),
          },
        );
      }
    });
    this.inFlight.add(work);
    const forget = (): void => void this.inFlight.delete(work);
    work.then(forget, forget);
    return abortable(work, signal, this.name);
  }

  /** Creates the directory and removes temporary files a crashed run left there; retried after a failure. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      try {
        await mkdir(this.directory, { recursive: true });
        for (const name of await readdir(this.directory)) {
          if (name.endsWith(TEMP_SUFFIX) && !name.includes(`.${PROCESS_TAG}.`))
            await unlink(join(this.directory, name)).catch(() => undefined);
        }
      } catch (error) {
        this.ready = undefined;
        throw new StoreUnavailableError(`cannot use ${this.directory} for the file store: ${describeThrown(error)}`, {
          directory: this.directory,
        });
      }
    })();
    return this.ready;
  }

  /** The stored version, 0 when there is no record; only the header and key are read, not the data. */
  private async versionOf(file: string, keyString: string): Promise<number> {
    const handle = await openIfExists(file, 'r');
    if (handle === null) return 0;
    try {
      return (await readHeader(handle, file, keyString)).version;
    } finally {
      await handle.close();
    }
  }
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function openIfExists(file: string, flags: string): Promise<FileHandle | null> {
  try {
    return await open(file, flags);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Reads and checks the header and the key; a file that does not hold what its name promises is corrupt. */
async function readHeader(handle: FileHandle, file: string, keyString: string): Promise<Header> {
  const { size } = await handle.stat();
  const header = Buffer.alloc(HEADER_BYTES);
  if (size < HEADER_BYTES) throw corrupt(file, `${size} bytes, shorter than a header`);
  await readExactly(handle, header, 0, file);
  if (!header.subarray(0, 4).equals(MAGIC)) throw corrupt(file, 'not a record file');
  const keyLength = header.readUInt32LE(4);
  const version = Number(header.readBigUInt64LE(8));
  const dataLength = Number(header.readBigUInt64LE(16));
  if (!Number.isSafeInteger(version) || version < 1) throw corrupt(file, `version ${version}`);
  if (HEADER_BYTES + keyLength + dataLength !== size)
    throw corrupt(file, `${size} bytes, the header says ${HEADER_BYTES + keyLength + dataLength}`);
  const key = Buffer.alloc(keyLength);
  await readExactly(handle, key, HEADER_BYTES, file);
  // Only a SHA-256 collision or a file copied in by hand gets here; either way it is not this actor's state.
  if (key.toString('utf8') !== keyString) throw corrupt(file, 'it holds the record of another key');
  return { version, keyLength, dataLength };
}

async function readExactly(handle: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw corrupt(file, 'shorter than its header says');
    done += bytesRead;
  }
}

async function writeAll(handle: FileHandle, parts: Uint8Array[]): Promise<void> {
  let pending = parts.filter((part) => part.length > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending);
    // writev may write less than asked (a full disk reports ENOSPC instead): go on with the rest.
    const rest: Uint8Array[] = [];
    for (const part of pending) {
      if (bytesWritten >= part.length) bytesWritten -= part.length;
      else {
        rest.push(part.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

/** Makes a rename or unlink in `directory` durable (the file's own fsync does not cover its name). */
async function syncDirectory(directory: string): Promise<void> {
  // Windows cannot open a directory to fsync it; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function corrupt(file: string, why: string): StoreUnavailableError {
  return new StoreUnavailableError(`corrupt record file ${file}: ${why}; move it away to start this actor afresh`, { file });
}
