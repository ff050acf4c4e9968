'use strict';
// codemill's candidate runner: one process per candidate, one fresh vm context per test.
// Contract (fds, frame, result lines): see the docstring of tools/sandbox/javascript.py.
const fs = require('fs');
const vm = require('vm');

const FRAME_FD = 3;
const RESULT_FD = 4;
const MAX_FRAME_BYTES = 256 * 1024 * 1024;
const MESSAGE_CAP = 2000;
const OUTPUT_CAP = 1 << 20; // console bytes per test; the worker caps the stream anyway
// Wall-clock budget for reading a thrown value (hostile getters may loop) and for Node's pass over rejected
// promises, beyond the test's own: costs only hostile code, and must outlast scheduling stalls on a busy host.
const CLASSIFY_MS = 500;
const TIMER_SLACK_MS = 2; // the vm watchdog's clock is millisecond-granular: it may fire up to 1 ms "early"
const STATUSES = new Set(['passed', 'failed', 'error', 'timeout', 'memory']);
// `import()` reaches Node's loader, which rejects with an error object of this (outer) realm: the one
// syntax that leaks one. Code cannot be generated from strings in the context, so a conservative scan of
// the two sources finds every use: the keyword followed by `(` or by a comment (`/*`, `//`, `<!--`, `-->`).
const DYNAMIC_IMPORT = /(?:^|[^\w$])import\s*[(/<-]/;
const CONTEXT_OPTIONS = {codeGeneration: {strings: false, wasm: false}, microtaskMode: 'afterEvaluate'};
const writeSync = fs.writeSync;
const hrnow = () => Number(process.hrtime.bigint()) / 1e6;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function fatal(message, code) {
  try { writeSync(2, `codemill runner: ${message}\n`); } catch (_) { /* nothing left to tell */ }
  process.exit(code);
}

function readExactly(fd, length) {
  const buffer = Buffer.alloc(length);
  let offset = 0;
  while (offset < length) {
    let count;
    try {
      count = fs.readSync(fd, buffer, offset, length - offset, null);
    } catch (error) {
      if (error.code === 'EAGAIN' || error.code === 'EINTR') { Atomics.wait(sleeper, 0, 0, 1); continue; }
      throw error;
    }
    if (count === 0) throw new Error(`frame truncated at ${offset} of ${length} bytes`);
    offset += count;
  }
  return buffer;
}

function readFrame() {
  let frame;
  try {
    const size = readExactly(FRAME_FD, 8).readBigUInt64BE(0);
    if (size > BigInt(MAX_FRAME_BYTES)) throw new Error(`frame of ${size} bytes is too large`);
    frame = JSON.parse(readExactly(FRAME_FD, Number(size)).toString('utf8'));
  } catch (error) {
    fatal(`cannot read the frame on fd ${FRAME_FD}: ${error.message}`, 2);
  } finally {
    try { fs.closeSync(FRAME_FD); } catch (_) { /* already closed */ }
  }
  const valid = frame !== null && typeof frame === 'object' && !Array.isArray(frame)
    && typeof frame.nonce === 'string' && /^[0-9a-f]{16,128}$/i.test(frame.nonce)
    && typeof frame.code === 'string'
    && Array.isArray(frame.tests) && frame.tests.every((test) => typeof test === 'string')
    && typeof frame.timeout_ms === 'number' && frame.timeout_ms > 0 && frame.timeout_ms <= 3600000;
  if (!valid) fatal('malformed frame: expected {nonce: hex, code: str, tests: [str], timeout_ms: number}', 2);
  return frame;
}

function writeAll(fd, text) {
  const buffer = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (error) {
      if (error.code === 'EAGAIN') { Atomics.wait(sleeper, 0, 0, 1); continue; }
      throw error;
    }
  }
}

// The only function of this realm that context code can call (through the bootstrap's closure, never as
// a value it can hold): takes primitives, returns nothing, throws nothing.
function hostWrite(fd, text) {
  if ((fd === 1 || fd === 2) && typeof text === 'string') {
    try { writeAll(fd, text); } catch (_) { /* a closed stdout is the worker's business */ }
  }
}

// Node's pass over unhandled rejections reads properties of the rejected promises (a proxy prototype
// there runs the context's code): it runs through this bridge, inside an evaluation, under the watchdog.
function hostTick() {
  try { process._tickCallback(); } catch (_) { return 1; }
  return 0;
}

// Runs INSIDE each context (compiled from its source text: it must not refer to anything of this file).
// Before any candidate code runs there, it captures the primordials it needs, builds console, require,
// module, assert, util and timers from them, and freezes the intrinsics (`builtins`: the context's global
// values, read by CAPTURE). The host gets back only what it needs to drive the test (stash, pendingTimers,
// scope, globals); `write` and `tick` stay in closures.
function codemillBootstrap(builtins, write, tick, secret, filename, dirname, messageCap, outputCap) {
  'use strict';
  const G = globalThis;
  const { apply: ReflectApply } = Reflect;
  const StringCtor = String, NumberCtor = Number, ErrorCtor = Error, TypeErrorCtor = TypeError, MapCtor = Map,
    SetCtor = Set, WeakMapCtor = WeakMap, Uint8ArrayCtor = Uint8Array, PromiseCtor = Promise;
  const { freeze, keys: ObjectKeys, getOwnPropertyNames, getOwnPropertySymbols, getOwnPropertyDescriptor,
    getPrototypeOf, setPrototypeOf, defineProperty, create, is: ObjectIs } = Object;
  const ObjectPrototype = Object.prototype;
  const uncurry = (fn) => (self, ...args) => ReflectApply(fn, self, args);
  const getterOf = (proto, key) => uncurry(getOwnPropertyDescriptor(proto, key).get);
  const hasOwn = uncurry(ObjectPrototype.hasOwnProperty);
  const isEnumerable = uncurry(ObjectPrototype.propertyIsEnumerable);
  const objectToString = uncurry(ObjectPrototype.toString);
  const isPrototypeOf = uncurry(ObjectPrototype.isPrototypeOf);
  const ArrayIsArray = Array.isArray;
  const arrayPush = uncurry(Array.prototype.push);
  const arrayJoin = uncurry(Array.prototype.join);
  const stringSlice = uncurry(String.prototype.slice);
  const charCodeAt = uncurry(String.prototype.charCodeAt);
  const stringStartsWith = uncurry(String.prototype.startsWith);
  const fromCharCode = String.fromCharCode;
  const numberToString = uncurry(Number.prototype.toString);
  const NumberIsNaN = Number.isNaN;
  const MathAbs = Math.abs, MathSin = Math.sin, MathFloor = Math.floor, MathMin = Math.min;
  const JSONStringify = JSON.stringify;
  const dateGetTime = uncurry(Date.prototype.getTime);
  const dateToISOString = uncurry(Date.prototype.toISOString);
  const RegExpPrototype = RegExp.prototype;
  const regexpExec = uncurry(RegExpPrototype.exec);
  const regexpSource = getterOf(RegExpPrototype, 'source');
  const regexpFlags = getterOf(RegExpPrototype, 'flags');
  const MapPrototype = Map.prototype, SetPrototype = Set.prototype;
  const mapSize = getterOf(MapPrototype, 'size');
  const mapGet = uncurry(MapPrototype.get), mapHas = uncurry(MapPrototype.has), mapSet = uncurry(MapPrototype.set);
  const mapDelete = uncurry(MapPrototype.delete), mapEntries = uncurry(MapPrototype.entries);
  const mapIteratorNext = uncurry(getPrototypeOf(new MapCtor().entries()).next);
  const setSize = getterOf(SetPrototype, 'size');
  const setHas = uncurry(SetPrototype.has), setAdd = uncurry(SetPrototype.add);
  const setDelete = uncurry(SetPrototype.delete);
  const setValues = uncurry(SetPrototype.values);
  const setIteratorNext = uncurry(getPrototypeOf(new SetCtor().values()).next);
  const weakMapGet = uncurry(WeakMap.prototype.get), weakMapSet = uncurry(WeakMap.prototype.set);
  const numberValueOf = uncurry(Number.prototype.valueOf), stringValueOf = uncurry(String.prototype.valueOf);
  const booleanValueOf = uncurry(Boolean.prototype.valueOf), symbolValueOf = uncurry(Symbol.prototype.valueOf);
  const bigintValueOf = uncurry(BigInt.prototype.valueOf), symbolToString = uncurry(Symbol.prototype.toString);
  const functionToString = uncurry(Function.prototype.toString);
  const ArrayBufferIsView = ArrayBuffer.isView;
  const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  const TypedArray = getPrototypeOf(Uint8Array);
  const typedArrayTag = getterOf(TypedArray.prototype, Symbol.toStringTag);
  const typedArrayLength = getterOf(TypedArray.prototype, 'length');
  const typedArrayBuffer = getterOf(TypedArray.prototype, 'buffer');
  const typedArrayByteOffset = getterOf(TypedArray.prototype, 'byteOffset');
  const typedArrayByteLength = getterOf(TypedArray.prototype, 'byteLength');
  const dataViewBuffer = getterOf(DataView.prototype, 'buffer');
  const dataViewByteOffset = getterOf(DataView.prototype, 'byteOffset');
  const dataViewByteLength = getterOf(DataView.prototype, 'byteLength');
  const promiseResolve = (value) => ReflectApply(PromiseCtor.resolve, PromiseCtor, [value]);
  const promiseThen = uncurry(PromiseCtor.prototype.then);
  const SymbolToPrimitive = Symbol.toPrimitive;
  const callBridge = (fd, text) => {
    try { write(fd, text); } catch (_) { /* never let an error of the host realm in */ }
  };

  // ---------------------------------------------------------------- inspection (console, messages)
  const cap = (text, limit) => (text.length > limit ? stringSlice(text, 0, limit) : text);
  const brand = (check, value) => { try { check(value); return true; } catch (_) { return false; } };
  const isObjectLike = (value) => (typeof value === 'object' && value !== null) || typeof value === 'function';
  const isDate = (value) => brand(dateGetTime, value);
  const isRegExp = (value) => value !== RegExpPrototype && brand(regexpSource, value);
  const isMap = (value) => brand(mapSize, value);
  const isSet = (value) => brand(setSize, value);
  const isArrayBuffer = (value) => brand(arrayBufferByteLength, value);
  const isError = (value) => isPrototypeOf(ErrorCtor.prototype, value);
  const boxedKind = (value) => {
    if (brand(numberValueOf, value)) return 'Number';
    if (brand(stringValueOf, value)) return 'String';
    if (brand(booleanValueOf, value)) return 'Boolean';
    if (brand(symbolValueOf, value)) return 'Symbol';
    if (brand(bigintValueOf, value)) return 'BigInt';
    return '';
  };
  const unbox = (value, kind) => (kind === 'Number' ? numberValueOf(value) : kind === 'String' ? stringValueOf(value)
    : kind === 'Boolean' ? booleanValueOf(value) : kind === 'Symbol' ? symbolValueOf(value) : bigintValueOf(value));

  function quote(text) {
    let out = "'";
    const length = MathMin(text.length, 1000);
    for (let i = 0; i < length; i++) {
      const code = charCodeAt(text, i);
      if (code === 39) out += "\\'";
      else if (code === 92) out += '\\\\';
      else if (code === 10) out += '\\n';
      else if (code < 32) out += '\\x' + (code < 16 ? '0' : '') + numberToString(code, 16);
      else out += fromCharCode(code);
    }
    return out + (text.length > length ? "'..." : "'");
  }
  function ownData(object, key) {
    const descriptor = getOwnPropertyDescriptor(object, key);
    return descriptor !== undefined && hasOwn(descriptor, 'value') ? descriptor.value : undefined;
  }
  function functionName(fn) {
    const name = ownData(fn, 'name');
    return typeof name === 'string' && name !== '' ? name : '';
  }
  function constructorName(object) {
    let proto;
    try { proto = getPrototypeOf(object); } catch (_) { return '?'; }
    if (proto === null) return null;
    const ctor = ownData(proto, 'constructor');
    return typeof ctor === 'function' ? functionName(ctor) : '';
  }
  function primitive(value, nested) {
    switch (typeof value) {
      case 'string': return nested ? quote(value) : value;
      case 'number': return ObjectIs(value, -0) ? '-0' : StringCtor(value);
      case 'bigint': return StringCtor(value) + 'n';
      case 'symbol': return symbolToString(value);
      default: return StringCtor(value); // undefined, boolean
    }
  }
  function propertyKey(key) {
    if (typeof key === 'symbol') return '[' + symbolToString(key) + ']';
    return regexpExec(/^[A-Za-z_$][\w$]*$/, key) !== null ? key : quote(key);
  }
  function inspect(value, depth, seen, nested) {
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') return primitive(value, nested);
    if (typeof value === 'function') {
      const name = functionName(value);
      let source = '';
      try { source = functionToString(value); } catch (_) { /* a proxy */ }
      if (stringStartsWith(source, 'class')) return '[class ' + (name || '(anonymous)') + ']';
      return '[Function: ' + (name || '(anonymous)') + ']';
    }
    if (setHas(seen, value)) return '[Circular]';
    if (isDate(value)) return NumberIsNaN(dateGetTime(value)) ? 'Invalid Date' : dateToISOString(value);
    if (isRegExp(value)) return '/' + regexpSource(value) + '/' + regexpFlags(value);
    const kind = boxedKind(value);
    if (kind !== '') return '[' + kind + ': ' + primitive(unbox(value, kind), true) + ']';
    if (isError(value)) {
      const name = value.name, message = value.message;
      const head = typeof name === 'string' ? name : 'Error';
      return typeof message === 'string' && message !== '' ? head + ': ' + message : head;
    }
    const max = 100, parts = [];
    const isArray = ArrayIsArray(value), map = !isArray && isMap(value), set = !map && !isArray && isSet(value);
    const typedTag = !isArray && !map && !set ? typedArrayTag(value) : undefined;
    let prefix = '', open = '{', close = '}';
    if (isArray) { open = '['; close = ']'; }
    else if (map) prefix = 'Map(' + mapSize(value) + ') ';
    else if (set) prefix = 'Set(' + setSize(value) + ') ';
    else if (typedTag !== undefined) {
      prefix = typedTag + '(' + typedArrayLength(value) + ') ';
      open = '[';
      close = ']';
    }
    else {
      const name = constructorName(value);
      if (name === null) prefix = '[Object: null prototype] ';
      else if (name !== 'Object' && name !== '') prefix = name + ' ';
    }
    if (depth < 0) return isArray ? '[Array]' : '[' + (prefix === '' ? 'Object' : cap(prefix, 40)) + ']';
    setAdd(seen, value);
    try {
      if (isArray || typedTag !== undefined) {
        const length = isArray ? value.length : typedArrayLength(value);
        for (let i = 0; i < length && parts.length < max; i++) {
          if (isArray && !hasOwn(value, i)) arrayPush(parts, '<empty>');
          else arrayPush(parts, inspect(value[i], depth - 1, seen, true));
        }
        if (length > max) arrayPush(parts, '... ' + (length - max) + ' more items');
      } else if (map || set) {
        const iterator = map ? mapEntries(value) : setValues(value);
        for (;;) {
          const step = map ? mapIteratorNext(iterator) : setIteratorNext(iterator);
          if (step.done) break;
          if (parts.length >= max) { arrayPush(parts, '...'); break; }
          arrayPush(parts, map ? inspect(step.value[0], depth - 1, seen, true) + ' => '
            + inspect(step.value[1], depth - 1, seen, true) : inspect(step.value, depth - 1, seen, true));
        }
      }
      if (!map && !set) {
        const keys = getOwnPropertyNames(value), symbols = getOwnPropertySymbols(value);
        for (let i = 0; i < symbols.length; i++) arrayPush(keys, symbols[i]);
        for (let i = 0; i < keys.length && parts.length < max + 1; i++) {
          const key = keys[i];
          if ((isArray || typedTag !== undefined) && typeof key === 'string'
              && (key === 'length' || regexpExec(/^(?:0|[1-9]\d*)$/, key) !== null)) continue;
          const descriptor = getOwnPropertyDescriptor(value, key);
          if (descriptor === undefined || !descriptor.enumerable) continue;
          const getter = descriptor.get !== undefined, setter = descriptor.set !== undefined;
          const accessor = getter ? (setter ? '[Getter/Setter]' : '[Getter]') : '[Setter]';
          const shown = hasOwn(descriptor, 'value') ? inspect(descriptor.value, depth - 1, seen, true) : accessor;
          arrayPush(parts, propertyKey(key) + ': ' + shown);
        }
      }
    } finally {
      setDelete(seen, value);
    }
    if (parts.length === 0) return prefix + open + close;
    return prefix + open + ' ' + arrayJoin(parts, ', ') + ' ' + close;
  }
  const show = (value) => inspect(value, 2, new SetCtor(), true);

  function format(args) {
    let out = '', next = 0;
    if (args.length > 0 && typeof args[0] === 'string') {
      const template = args[0];
      next = 1;
      for (let i = 0; i < template.length; i++) {
        const char = template[i];
        if (char !== '%' || i + 1 >= template.length) { out += char; continue; }
        const spec = template[i + 1];
        if (spec === '%') { out += '%'; i++; continue; }
        if (next >= args.length || 'sdifjoOc'.indexOf(spec) < 0) { out += char; continue; }
        const arg = args[next++];
        i++;
        if (spec === 's') {
          out += typeof arg === 'string' ? arg : isObjectLike(arg) && typeof arg !== 'function' ? show(arg)
            : primitive(arg, false);
        }
        else if (spec === 'd' || spec === 'i' || spec === 'f') {
          if (typeof arg === 'bigint') out += StringCtor(arg) + 'n';
          else if (typeof arg === 'symbol') out += 'NaN';
          else {
            const number = NumberCtor(arg);
            out += primitive(spec === 'i' ? (number < 0 ? -MathFloor(-number) : MathFloor(number)) : number, false);
          }
        } else if (spec === 'j') {
          try { out += JSONStringify(arg); } catch (_) { out += '[Circular]'; }
        } else if (spec !== 'c') out += show(arg);
      }
    }
    for (; next < args.length; next++) {
      const arg = args[next];
      out += (out === '' && next === 0 ? '' : ' ') + (typeof arg === 'string' ? arg : show(arg));
    }
    return out;
  }

  // ---------------------------------------------------------------- assert (Node-compatible semantics)
  class AssertionError extends ErrorCtor {
    constructor(options) {
      if (options === null || typeof options !== 'object') {
        throw new TypeErrorCtor('The "options" argument must be of type object');
      }
      const { message, actual, expected, operator } = options;
      super(message != null ? StringCtor(message) : generatedMessage(actual, expected, operator));
      this.generatedMessage = message == null;
      this.code = 'ERR_ASSERTION';
      this.actual = actual;
      this.expected = expected;
      this.operator = operator;
    }
  }
  defineProperty(AssertionError.prototype, 'name', { value: 'AssertionError', writable: true, configurable: true });
  const assertionErrors = new WeakMapCtor();
  function generatedMessage(actual, expected, operator) {
    switch (operator) {
      case 'strictEqual':
        return 'Expected values to be strictly equal:\n\n' + show(actual) + ' !== ' + show(expected) + '\n';
      case 'deepStrictEqual':
        return 'Expected values to be strictly deep-equal:\n+ actual - expected\n\n+ ' + show(actual) + '\n- '
          + show(expected);
      case 'deepEqual':
        return 'Expected values to be loosely deep-equal:\n\n' + show(actual) + '\n\nshould loosely deep-equal\n\n'
          + show(expected);
      case 'notStrictEqual': return 'Expected "actual" to be strictly unequal to: ' + show(expected);
      case 'notDeepStrictEqual': return 'Expected "actual" not to be strictly deep-equal to: ' + show(expected);
      case 'notDeepEqual': return '"actual" should not loosely deep-equal "expected": ' + show(expected);
      case '==': case '!=': return show(actual) + ' ' + operator + ' ' + show(expected);
      default: return 'Failed';
    }
  }
  function fail(actual, expected, message, operator) {
    if (isError(message)) throw message;
    const error = new AssertionError({ actual, expected, message, operator });
    weakMapSet(assertionErrors, error, true);
    throw error;
  }

  const NO_MEMO = undefined;
  function isIndex(key) {
    return typeof key === 'string' && regexpExec(/^(?:0|[1-9]\d{0,9})$/, key) !== null && NumberCtor(key) < 4294967295;
  }
  function enumerableKeys(value, strict, skipIndices) {
    const keys = ObjectKeys(value), out = [];
    for (let i = 0; i < keys.length; i++) if (!skipIndices || !isIndex(keys[i])) arrayPush(out, keys[i]);
    if (strict) {
      const symbols = getOwnPropertySymbols(value);
      for (let i = 0; i < symbols.length; i++) if (isEnumerable(value, symbols[i])) arrayPush(out, symbols[i]);
    }
    return out;
  }
  function bytesOf(buffer, offset, length) { return new Uint8ArrayCtor(buffer, offset, length); }
  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  // Node's isDeepEqual / isDeepStrictEqual (lib/internal/util/comparisons.js), on captured primordials.
  function deepEqual(a, b, strict, memos) {
    if (a === b) return a !== 0 || !strict || ObjectIs(a, b);
    if (strict) {
      if (typeof a !== 'object') return typeof a === 'number' && NumberIsNaN(a) && NumberIsNaN(b);
      if (typeof b !== 'object' || a === null || b === null) return false;
      if (getPrototypeOf(a) !== getPrototypeOf(b)) return false;
    } else {
      if (a === null || typeof a !== 'object') {
        if (b === null || typeof b !== 'object') return a == b || (NumberIsNaN(a) && NumberIsNaN(b));
        return false;
      }
      if (b === null || typeof b !== 'object') return false;
    }
    const tagA = objectToString(a);
    if (tagA !== objectToString(b)) return false;
    if (ArrayIsArray(a)) {
      if (!ArrayIsArray(b) || a.length !== b.length) return false;
      const keysA = enumerableKeys(a, strict, true), keysB = enumerableKeys(b, strict, true);
      if (keysA.length !== keysB.length) return false;
      return keyCheck(a, b, strict, memos, 'array', keysA);
    }
    if (tagA === '[object Object]' && !isError(a) && !isError(b)) return keyCheck(a, b, strict, memos, 'object');
    if (isDate(a)) {
      if (!isDate(b) || dateGetTime(a) !== dateGetTime(b)) return false;
    } else if (isRegExp(a)) {
      if (!isRegExp(b) || regexpSource(a) !== regexpSource(b) || regexpFlags(a) !== regexpFlags(b)
          || a.lastIndex !== b.lastIndex) return false;
    } else if (isError(a)) {
      if (!isError(b) || a.message !== b.message || a.name !== b.name) return false;
    } else if (ArrayBufferIsView(a)) {
      if (!ArrayBufferIsView(b)) return false;
      const tag = typedArrayTag(a);
      if (tag !== typedArrayTag(b)) return false;
      if (tag === undefined) { // DataView
        if (!sameBytes(bytesOf(dataViewBuffer(a), dataViewByteOffset(a), dataViewByteLength(a)),
          bytesOf(dataViewBuffer(b), dataViewByteOffset(b), dataViewByteLength(b)))) return false;
      } else if (!strict && (tag === 'Float32Array' || tag === 'Float64Array')) {
        const length = typedArrayLength(a);
        if (length !== typedArrayLength(b)) return false;
        for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
      } else if (!sameBytes(bytesOf(typedArrayBuffer(a), typedArrayByteOffset(a), typedArrayByteLength(a)),
        bytesOf(typedArrayBuffer(b), typedArrayByteOffset(b), typedArrayByteLength(b)))) return false;
      const keysA = enumerableKeys(a, strict, true), keysB = enumerableKeys(b, strict, true);
      if (keysA.length !== keysB.length) return false;
      return keyCheck(a, b, strict, memos, 'object', keysA);
    } else if (isSet(a)) {
      if (!isSet(b) || setSize(a) !== setSize(b)) return false;
      return keyCheck(a, b, strict, memos, 'set');
    } else if (isMap(a)) {
      if (!isMap(b) || mapSize(a) !== mapSize(b)) return false;
      return keyCheck(a, b, strict, memos, 'map');
    } else if (isArrayBuffer(a)) {
      if (!isArrayBuffer(b)) return false;
      if (!sameBytes(bytesOf(a, 0, arrayBufferByteLength(a)), bytesOf(b, 0, arrayBufferByteLength(b)))) return false;
    } else {
      const kind = boxedKind(a);
      if (kind !== '') {
        if (boxedKind(b) !== kind || !ObjectIs(unbox(a, kind), unbox(b, kind))) return false;
      } else if (ArrayIsArray(b) || ArrayBufferIsView(b) || isSet(b) || isMap(b) || isDate(b) || isRegExp(b)
          || isArrayBuffer(b) || boxedKind(b) !== '' || isError(b)) {
        return false;
      }
    }
    return keyCheck(a, b, strict, memos, 'object');
  }
  function keyCheck(a, b, strict, memos, kind, keysA) {
    if (keysA === undefined) {
      keysA = enumerableKeys(a, strict, false);
      if (keysA.length !== enumerableKeys(b, strict, false).length) return false;
    }
    for (let i = 0; i < keysA.length; i++) {
      if (!hasOwn(b, keysA[i]) || !isEnumerable(b, keysA[i])) return false;
    }
    if (keysA.length === 0 && (kind === 'object' || (kind === 'array' && a.length === 0)
        || (kind === 'set' && setSize(a) === 0) || (kind === 'map' && mapSize(a) === 0))) return true;
    if (memos === NO_MEMO) {
      memos = { a: new MapCtor(), b: new MapCtor(), position: 0 };
    } else {
      const memoA = mapGet(memos.a, a);
      if (memoA !== undefined) {
        const memoB = mapGet(memos.b, b);
        if (memoB !== undefined) return memoA === memoB;
      }
      memos.position++;
    }
    mapSet(memos.a, a, memos.position);
    mapSet(memos.b, b, memos.position);
    const equal = objectEquivalent(a, b, strict, keysA, memos, kind);
    mapDelete(memos.a, a);
    mapDelete(memos.b, b);
    return equal;
  }
  function objectEquivalent(a, b, strict, keys, memos, kind) {
    if (kind === 'set') { if (!setEquivalent(a, b, strict, memos)) return false; }
    else if (kind === 'map') { if (!mapEquivalent(a, b, strict, memos)) return false; }
    else if (kind === 'array') {
      const length = a.length;
      for (let i = 0; i < length; i++) {
        const ownA = hasOwn(a, i);
        if (ownA !== hasOwn(b, i)) return false;
        if (ownA && !deepEqual(a[i], b[i], strict, memos)) return false;
      }
    }
    for (let i = 0; i < keys.length; i++) {
      if (!deepEqual(a[keys[i]], b[keys[i]], strict, memos)) return false;
    }
    return true;
  }
  function valuesOf(set) {
    const out = [], iterator = setValues(set);
    for (let step = setIteratorNext(iterator); !step.done; step = setIteratorNext(iterator)) arrayPush(out, step.value);
    return out;
  }
  function entriesOf(map) {
    const out = [], iterator = mapEntries(map);
    for (let step = mapIteratorNext(iterator); !step.done; step = mapIteratorNext(iterator)) arrayPush(out, step.value);
    return out;
  }
  // Removes from `pool` the first element deep-equal to `value`; false if there is none.
  function takeEqual(pool, value, strict, memos) {
    for (let i = 0; i < pool.length; i++) {
      if (pool[i] !== undefined && deepEqual(pool[i].key, value, strict, memos)) {
        const found = pool[i];
        pool[i] = undefined;
        return found;
      }
    }
    return undefined;
  }
  function setEquivalent(a, b, strict, memos) {
    const pool = [], valuesA = valuesOf(a), valuesB = valuesOf(b);
    for (let i = 0; i < valuesA.length; i++) {
      const value = valuesA[i];
      if (isObjectLike(value) || (!setHas(b, value) && !strict)) arrayPush(pool, { key: value });
      else if (!setHas(b, value)) return false;
    }
    for (let i = 0; i < valuesB.length; i++) {
      const value = valuesB[i];
      if (isObjectLike(value) || (!strict && !setHas(a, value))) {
        if (takeEqual(pool, value, strict, memos) === undefined) return false;
      }
    }
    for (let i = 0; i < pool.length; i++) if (pool[i] !== undefined) return false;
    return true;
  }
  function mapEquivalent(a, b, strict, memos) {
    const pool = [], entriesA = entriesOf(a), entriesB = entriesOf(b);
    for (let i = 0; i < entriesA.length; i++) {
      const key = entriesA[i][0], value = entriesA[i][1];
      if (isObjectLike(key)) { arrayPush(pool, { key, value }); continue; }
      if (mapHas(b, key) && deepEqual(value, mapGet(b, key), strict, memos)) continue;
      if (strict) return false;
      arrayPush(pool, { key, value });
    }
    for (let i = 0; i < entriesB.length; i++) {
      const key = entriesB[i][0], value = entriesB[i][1];
      if (!isObjectLike(key) && (strict || (mapHas(a, key) && deepEqual(mapGet(a, key), value, strict, memos)))) {
        continue;
      }
      let matched = false;
      for (let j = 0; j < pool.length && !matched; j++) {
        const entry = pool[j];
        if (entry !== undefined && deepEqual(entry.key, key, strict, memos)
            && deepEqual(entry.value, value, strict, memos)) {
          pool[j] = undefined;
          matched = true;
        }
      }
      if (!matched) return false;
    }
    for (let i = 0; i < pool.length; i++) if (pool[i] !== undefined) return false;
    return true;
  }
  const isDeepEqual = (a, b) => deepEqual(a, b, false, NO_MEMO);
  const isDeepStrictEqual = (a, b) => deepEqual(a, b, true, NO_MEMO);

  function innerOk(argumentCount, value, message) {
    if (value) return;
    if (argumentCount === 0) message = 'No value argument passed to `assert.ok()`';
    else if (message == null) {
      message = 'The expression evaluated to a falsy value:\n\n  assert.ok(' + show(value) + ')\n';
    }
    else if (isError(message)) throw message;
    fail(value, true, message, '==');
  }
  const isInstance = (actual, expected) => expected.prototype !== undefined && isObjectLike(actual)
    && isPrototypeOf(expected.prototype, actual);
  function checkFunction(fn, name) {
    if (typeof fn !== 'function') {
      throw new TypeErrorCtor('The "' + name + '" argument must be of type function. Received ' + show(fn));
    }
  }
  function expectedException(actual, expected, message, operator) {
    if (isRegExp(expected)) {
      const text = StringCtor(actual);
      if (regexpExec(expected, text) !== null) return;
      fail(actual, expected, message ?? 'The input did not match the regular expression ' + show(expected)
        + '. Input:\n\n' + quote(text) + '\n', operator);
    }
    if (typeof expected === 'function') {
      if (isInstance(actual, expected)) return;
      if (expected === ErrorCtor || isPrototypeOf(ErrorCtor, expected)) {
        fail(actual, expected, message ?? 'The error is expected to be an instance of "' + functionName(expected)
          + '". Received ' + show(actual), operator);
      }
      const result = ReflectApply(expected, {}, [actual]);
      if (result !== true) {
        fail(actual, expected, message ?? 'The validation function is expected to return "true". Received '
          + show(result), operator);
      }
      return;
    }
    if (isObjectLike(expected)) {
      if (!isObjectLike(actual)) fail(actual, expected, message ?? 'The error is expected to be an object', operator);
      const keys = ObjectKeys(expected);
      if (isError(expected)) arrayPush(keys, 'name', 'message');
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i], want = expected[key], got = actual[key];
        if (typeof got === 'string' && isRegExp(want) && regexpExec(want, got) !== null) continue;
        if (!isDeepStrictEqual(got, want)) {
          fail(actual, expected, message ?? 'Expected values to be strictly deep-equal at "' + key + '": '
            + show(got) + ' !== ' + show(want), operator);
        }
      }
      return;
    }
    throw new TypeErrorCtor('The "expected" argument must be a function, a RegExp or an object');
  }
  const NOTHING = {};
  function thrownBy(fn) {
    try { fn(); } catch (error) { return error; }
    return NOTHING;
  }
  function throws(fn, expected, message) {
    checkFunction(fn, 'fn');
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    const actual = thrownBy(fn);
    if (actual === NOTHING) {
      const name = typeof expected === 'function' ? functionName(expected) : '';
      fail(undefined, expected, message ?? 'Missing expected exception' + (name ? ' (' + name + ').' : '.'), 'throws');
    }
    if (expected !== undefined) expectedException(actual, expected, message, 'throws');
  }
  function matchesClass(actual, expected) {
    if (expected === undefined) return true;
    if (typeof expected === 'function') {
      if (isInstance(actual, expected)) return true;
      if (expected === ErrorCtor || isPrototypeOf(ErrorCtor, expected)) return false;
      return ReflectApply(expected, {}, [actual]) === true;
    }
    if (isRegExp(expected)) return regexpExec(expected, StringCtor(actual)) !== null;
    throw new TypeErrorCtor('The "expected" argument must be a function or a RegExp');
  }
  function doesNotThrow(fn, expected, message) {
    checkFunction(fn, 'fn');
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    const actual = thrownBy(fn);
    if (actual === NOTHING) return;
    if (!matchesClass(actual, expected)) throw actual;
    const detail = isObjectLike(actual) && typeof actual.message === 'string' ? actual.message : show(actual);
    fail(actual, expected, 'Got unwanted exception' + (message ? ': ' + message : '.') + '\nActual message: "'
      + detail + '"', 'doesNotThrow');
  }
  async function rejects(promiseOrFn, expected, message) {
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    let actual = NOTHING;
    try { await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn); } catch (error) { actual = error; }
    if (actual === NOTHING) fail(undefined, expected, message ?? 'Missing expected rejection.', 'rejects');
    if (expected !== undefined) expectedException(actual, expected, message, 'rejects');
  }
  async function doesNotReject(promiseOrFn, expected, message) {
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    let actual = NOTHING;
    try { await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn); } catch (error) { actual = error; }
    if (actual === NOTHING) return;
    if (!matchesClass(actual, expected)) throw actual;
    fail(actual, expected, 'Got unwanted rejection' + (message ? ': ' + message : '.'), 'doesNotReject');
  }
  function buildAssert(strictMode) {
    const assert = function ok(value, message) { innerOk(arguments.length, value, message); };
    const api = {
      ok: assert,
      equal(actual, expected, message) {
        const bothNaN = NumberIsNaN(actual) && NumberIsNaN(expected);
        if (!(actual == expected || bothNaN)) fail(actual, expected, message, '==');
      },
      notEqual(actual, expected, message) {
        const bothNaN = NumberIsNaN(actual) && NumberIsNaN(expected);
        if (!(actual != expected && !bothNaN)) fail(actual, expected, message, '!=');
      },
      strictEqual(actual, expected, message) {
        if (!ObjectIs(actual, expected)) fail(actual, expected, message, 'strictEqual');
      },
      notStrictEqual(actual, expected, message) {
        if (ObjectIs(actual, expected)) fail(actual, expected, message, 'notStrictEqual');
      },
      deepEqual(actual, expected, message) {
        if (!isDeepEqual(actual, expected)) fail(actual, expected, message, 'deepEqual');
      },
      notDeepEqual(actual, expected, message) {
        if (isDeepEqual(actual, expected)) fail(actual, expected, message, 'notDeepEqual');
      },
      deepStrictEqual(actual, expected, message) {
        if (!isDeepStrictEqual(actual, expected)) fail(actual, expected, message, 'deepStrictEqual');
      },
      notDeepStrictEqual(actual, expected, message) {
        if (isDeepStrictEqual(actual, expected)) fail(actual, expected, message, 'notDeepStrictEqual');
      },
      throws, doesNotThrow, rejects, doesNotReject,
      fail(message) {
        if (arguments.length >= 2) fail(arguments[0], arguments[1], arguments[2], arguments[3] ?? 'fail');
        fail(undefined, undefined, message ?? 'Failed', 'fail');
      },
      match(string, regexp, message) {
        if (typeof string !== 'string' || regexpExec(regexp, string) === null) {
          fail(string, regexp, message ?? 'The input did not match the regular expression ' + show(regexp)
            + '. Input:\n\n' + show(string) + '\n', 'match');
        }
      },
      doesNotMatch(string, regexp, message) {
        if (typeof string !== 'string' || regexpExec(regexp, string) !== null) {
          fail(string, regexp, message ?? 'The input was expected to not match the regular expression ' + show(regexp)
            + '. Input:\n\n' + show(string) + '\n', 'doesNotMatch');
        }
      },
      ifError(value) {
        if (value !== null && value !== undefined) {
          fail(value, null, 'ifError got unwanted exception: ' + show(value), 'ifError');
        }
      },
      AssertionError,
    };
    if (strictMode) {
      api.equal = api.strictEqual;
      api.notEqual = api.notStrictEqual;
      api.deepEqual = api.deepStrictEqual;
      api.notDeepEqual = api.notDeepStrictEqual;
    }
    const names = ObjectKeys(api);
    for (let i = 0; i < names.length; i++) assert[names[i]] = api[names[i]];
    return assert;
  }
  const assert = buildAssert(false), assertStrict = buildAssert(true);
  assert.strict = assertStrict;
  assertStrict.strict = assertStrict;

  // ---------------------------------------------------------------- js-md5 (HumanEvalPack uses it)
  const MD5_SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  const MD5_K = [];
  for (let i = 0; i < 64; i++) MD5_K[i] = MathFloor(MathAbs(MathSin(i + 1)) * 4294967296) | 0;
  function utf8Bytes(text) {
    const bytes = [];
    for (let i = 0; i < text.length; i++) {
      let code = charCodeAt(text, i);
      if (code < 0x80) arrayPush(bytes, code);
      else if (code < 0x800) arrayPush(bytes, 0xc0 | (code >> 6), 0x80 | (code & 0x3f));
      else if (code < 0xd800 || code >= 0xe000) {
        arrayPush(bytes, 0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
      } else { // a surrogate pair, combined as js-md5 does
        code = 0x10000 + (((code & 0x3ff) << 10) | (charCodeAt(text, ++i) & 0x3ff));
        arrayPush(bytes, 0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f),
          0x80 | (code & 0x3f));
      }
    }
    return bytes;
  }
  function md5Input(message) {
    if (typeof message === 'string') return utf8Bytes(message);
    let view = message;
    if (isArrayBuffer(message)) view = new Uint8ArrayCtor(message);
    else if (ArrayBufferIsView(message) && typedArrayTag(message) !== undefined) {
      view = bytesOf(typedArrayBuffer(message), typedArrayByteOffset(message), typedArrayByteLength(message));
    } else if (!ArrayIsArray(message)) throw new ErrorCtor('input is invalid type');
    const bytes = [];
    for (let i = 0; i < view.length; i++) arrayPush(bytes, view[i] & 0xff);
    return bytes;
  }
  function md5Digest(message) {
    const bytes = md5Input(message), bitLength = bytes.length * 8;
    arrayPush(bytes, 0x80);
    while (bytes.length % 64 !== 56) arrayPush(bytes, 0);
    const low = bitLength >>> 0, high = MathFloor(bitLength / 4294967296) >>> 0;
    for (let i = 0; i < 4; i++) arrayPush(bytes, (low >>> (8 * i)) & 0xff);
    for (let i = 0; i < 4; i++) arrayPush(bytes, (high >>> (8 * i)) & 0xff);
    let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    const words = [];
    for (let offset = 0; offset < bytes.length; offset += 64) {
      for (let i = 0; i < 16; i++) {
        const at = offset + 4 * i;
        words[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
      }
      let a = a0, b = b0, c = c0, d = d0;
      for (let i = 0; i < 64; i++) {
        let f, g;
        if (i < 16) { f = (b & c) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        f = (f + a + MD5_K[i] + words[g]) | 0;
        a = d; d = c; c = b;
        const shift = MD5_SHIFTS[(i >> 4) * 4 + (i % 4)];
        b = (b + ((f << shift) | (f >>> (32 - shift)))) | 0;
      }
      a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
    }
    const out = [];
    for (const word of [a0, b0, c0, d0]) for (let i = 0; i < 4; i++) arrayPush(out, (word >>> (8 * i)) & 0xff);
    return out;
  }
  const md5 = function md5(message) {
    const digest = md5Digest(message);
    let hex = '';
    for (let i = 0; i < digest.length; i++) hex += (digest[i] < 16 ? '0' : '') + numberToString(digest[i], 16);
    return hex;
  };
  defineProperty(md5, 'hex', { value: md5, enumerable: true });
  defineProperty(md5, 'array', { value: md5Digest, enumerable: true });
  defineProperty(md5, 'digest', { value: md5Digest, enumerable: true });

  // ---------------------------------------------------------------- console, util, timers, require, module
  let written = 0;
  function out(fd, args) {
    if (written >= outputCap) return;
    let text = format(args) + '\n';
    if (written + text.length > outputCap) text = stringSlice(text, 0, outputCap - written) + '\n[output truncated]\n';
    written += text.length;
    callBridge(fd, text);
  }
  const counts = new MapCtor();
  const console = {
    log(...args) { out(1, args); }, info(...args) { out(1, args); }, debug(...args) { out(1, args); },
    error(...args) { out(2, args); }, warn(...args) { out(2, args); }, trace(...args) { out(2, ['Trace:', ...args]); },
    dir(value) { out(1, [show(value)]); }, table(...args) { out(1, args); },
    assert(value, ...data) {
      if (!value) {
        fail(value, true, data.length > 0 ? 'Assertion failed: ' + format(data) : 'Assertion failed', 'console.assert');
      }
    },
    count(label = 'default') {
      const key = StringCtor(label), count = (mapGet(counts, key) ?? 0) + 1;
      mapSet(counts, key, count);
      out(1, [key + ': ' + count]);
    },
    countReset(label = 'default') { mapDelete(counts, StringCtor(label)); },
    group(...args) { if (args.length > 0) out(1, args); },
    groupCollapsed(...args) { if (args.length > 0) out(1, args); },
    groupEnd() {}, time() {}, timeEnd() {}, timeLog() {}, clear() {},
  };
  const util = {
    format: (...args) => format(args),
    inspect(value, options) {
      const depth = isObjectLike(options) && typeof options.depth === 'number' ? options.depth : 2;
      return inspect(value, depth, new SetCtor(), false);
    },
    isDeepStrictEqual,
    inherits(ctor, superCtor) { setPrototypeOf(ctor.prototype, superCtor.prototype); setPrototypeOf(ctor, superCtor); },
    promisify(fn) {
      checkFunction(fn, 'original');
      return function (...args) {
        return new PromiseCtor((resolve, reject) => {
          ReflectApply(fn, this, [...args, (error, value) => (error ? reject(error) : resolve(value))]);
        });
      };
    },
  };

  // Virtual timers: callbacks run in due order, each in its own evaluation (so promise jobs run between
  // them, as in Node), without waiting for the delay: a test's budget is CPU, not sleep.
  let clock = 0, timerSequence = 0;
  const timers = new MapCtor(); // id -> record
  const handles = new WeakMapCtor(); // handle object -> id
  class Timeout {
    ref() { return this; }
    unref() { return this; }
    hasRef() { return true; }
    refresh() {
      const record = mapGet(timers, weakMapGet(handles, this));
      if (record) record.due = clock + record.delay;
      return this;
    }
    [SymbolToPrimitive]() { return weakMapGet(handles, this); }
  }
  function schedule(callback, delay, args, repeat, immediate) {
    checkFunction(callback, 'callback');
    let ms = immediate ? 0 : NumberCtor(delay);
    if (!immediate && !(ms >= 1 && ms <= 2147483647)) ms = 1;
    const id = ++timerSequence, handle = new Timeout();
    weakMapSet(handles, handle, id);
    mapSet(timers, id, { id, due: clock + ms, delay: ms, callback, args, repeat, handle });
    return handle;
  }
  function clear(handle) {
    const id = isObjectLike(handle) ? weakMapGet(handles, handle) : handle;
    if (id !== undefined) mapDelete(timers, id);
  }
  function runNextTimer() {
    let next;
    const records = entriesOf(timers);
    for (let i = 0; i < records.length; i++) {
      const record = records[i][1];
      if (next === undefined || record.due < next.due || (record.due === next.due && record.id < next.id)) {
        next = record;
      }
    }
    if (next === undefined) return;
    if (next.due > clock) clock = next.due;
    mapDelete(timers, next.id);
    if (next.repeat) { // an interval runs again after its delay, as a new timer (id order breaks ties)
      next.due = clock + next.delay;
      next.id = ++timerSequence;
      weakMapSet(handles, next.handle, next.id);
      mapSet(timers, next.id, next);
    }
    ReflectApply(next.callback, next.handle, next.args);
  }
  const timerApi = {
    setTimeout: (callback, delay, ...args) => schedule(callback, delay, args, false, false),
    setInterval: (callback, delay, ...args) => schedule(callback, delay, args, true, false),
    setImmediate: (callback, ...args) => schedule(callback, 0, args, false, true),
    clearTimeout: clear, clearInterval: clear, clearImmediate: clear,
    queueMicrotask(callback) {
      checkFunction(callback, 'callback');
      promiseThen(promiseResolve(undefined), () => { ReflectApply(callback, undefined, []); });
    },
  };

  const modules = create(null);
  modules.assert = modules['node:assert'] = assert;
  modules['assert/strict'] = modules['node:assert/strict'] = assertStrict;
  modules.util = modules['node:util'] = util;
  modules['js-md5'] = md5;
  const require = function require(id) {
    if (typeof id !== 'string') {
      throw new TypeErrorCtor('The "id" argument must be of type string. Received ' + show(id));
    }
    if (hasOwn(modules, id)) return modules[id];
    const error = new ErrorCtor("Cannot find module '" + cap(id, 200)
      + "': only assert, assert/strict, util and js-md5 can be required in the sandbox");
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  };
  const exports = {};
  const module = { id: '.', path: dirname, exports, filename, loaded: false, children: [], paths: [] };

  // ---------------------------------------------------------------- lock down this realm
  // The test resolves free names in `scope` first: the pristine builtins and harness objects, whatever the
  // candidate (a script in the same global scope) did to the global bindings.
  const scope = create(null), intrinsics = [];
  const collect = (value) => {
    if (!isObjectLike(value) || value === G) return;
    arrayPush(intrinsics, value);
    const proto = ownData(value, 'prototype');
    if (isObjectLike(proto)) arrayPush(intrinsics, proto);
  };
  const builtinNames = ObjectKeys(builtins);
  for (let i = 0; i < builtinNames.length; i++) {
    const value = builtins[builtinNames[i]];
    scope[builtinNames[i]] = value;
    collect(value);
  }
  const intlNames = getOwnPropertyNames(Intl);
  for (let i = 0; i < intlNames.length; i++) collect(ownData(Intl, intlNames[i]));
  const generator = getPrototypeOf(function* () {}), asyncGenerator = getPrototypeOf(async function* () {});
  const asyncFunction = getPrototypeOf(async function () {});
  const arrayIterator = getPrototypeOf([][Symbol.iterator]());
  arrayPush(intrinsics, TypedArray, TypedArray.prototype, Array.prototype[Symbol.unscopables],
    generator, generator.prototype, generator.constructor,
    asyncGenerator, asyncGenerator.prototype, asyncGenerator.constructor,
    asyncFunction, asyncFunction.constructor, arrayIterator, getPrototypeOf(arrayIterator),
    getPrototypeOf(getPrototypeOf(asyncGenerator.prototype)), getPrototypeOf(new MapCtor().entries()),
    getPrototypeOf(new SetCtor().values()), getPrototypeOf(''[Symbol.iterator]()),
    getPrototypeOf(/a/[Symbol.matchAll]('')));
  // Frozen, an inherited data property cannot be assigned on instances either (`this.name = ...` in an
  // Error subclass, `Child.prototype.constructor = Child`): the usual ones become accessors that assign
  // on the instance. (Each costs ~20 us per context: only those legitimate code relies on.)
  function enable(object, key) {
    const descriptor = getOwnPropertyDescriptor(object, key);
    if (descriptor === undefined || !hasOwn(descriptor, 'value') || !descriptor.configurable) return;
    const value = descriptor.value;
    defineProperty(object, key, {
      get() { return value; },
      set(newValue) {
        if (this === object) throw new TypeErrorCtor("Cannot assign to read only property '" + StringCtor(key) + "'");
        if (hasOwn(this, key)) this[key] = newValue;
        else defineProperty(this, key, { value: newValue, writable: true, enumerable: true, configurable: true });
      },
      enumerable: descriptor.enumerable,
      configurable: false,
    });
  }
  for (const key of ['constructor', 'toString', 'valueOf']) enable(ObjectPrototype, key);
  for (const key of ['constructor', 'name', 'message']) enable(ErrorCtor.prototype, key);
  for (const ctor of [TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError]) {
    enable(ctor.prototype, 'name');
    enable(ctor.prototype, 'message');
  }
  for (let i = 0; i < intrinsics.length; i++) freeze(intrinsics[i]);

  const globals = {
    console, require, module, exports, __filename: filename, __dirname: dirname, global: G, ...timerApi,
  };
  const globalNames = ObjectKeys(globals);
  for (let i = 0; i < globalNames.length; i++) scope[globalNames[i]] = globals[globalNames[i]];
  scope.assert = assert;
  const harnessObjects = [console, util, module.children, module.paths, AssertionError, AssertionError.prototype,
    Timeout, Timeout.prototype, require, md5, assert, assertStrict, scope, globals];
  for (let i = 0; i < globalNames.length; i++) {
    if (typeof globals[globalNames[i]] === 'function') arrayPush(harnessObjects, globals[globalNames[i]]);
  }
  for (let i = 0; i < harnessObjects.length; i++) freeze(harnessObjects[i]);

  // ---------------------------------------------------------------- verdicts, reached by the host
  function verdictOf(thrown) {
    let status = 'error', type = 'Error', message = '';
    try {
      if (isObjectLike(thrown)) {
        let name, text, code;
        try { name = thrown.name; } catch (_) { name = undefined; }
        try { text = thrown.message; } catch (_) { text = undefined; }
        try { code = thrown.code; } catch (_) { code = undefined; }
        if (typeof name === 'string' && name !== '') type = cap(name, 200);
        if (typeof text === 'string') message = text;
        else if (text !== undefined && !isObjectLike(text)) message = primitive(text, false);
        if (weakMapGet(assertionErrors, thrown) === true || name === 'AssertionError' || code === 'ERR_ASSERTION') {
          status = 'failed';
          type = 'AssertionError';
        } else if (name === 'RangeError' && typeof text === 'string'
            && stringStartsWith(text, 'Array buffer allocation failed')) {
          status = 'memory';
        }
      } else {
        message = primitive(thrown, false);
      }
    } catch (_) {
      message = '<unreadable thrown value>';
    }
    return JSONStringify([status, type, cap(message, messageCap)]);
  }
  // The host stashes a mode (and value) and evaluates `secret()`, so that each step runs under the vm
  // timeout. A thrown value is kept here and read by a separate step with its own small budget.
  const PASSED = JSONStringify(['passed', null, '']), THREW = 'threw';
  let pendingMode = 0, pendingValue, thrownValue;
  function dispatch() {
    const mode = pendingMode, value = pendingValue;
    pendingMode = 0;
    pendingValue = undefined;
    try {
      if (mode === 1) ReflectApply(value, undefined, []); // run the test
      else if (mode === 2) return verdictOf(value); // a value the host caught
      else if (mode === 3) runNextTimer();
      else if (mode === 4) return tick() === 0 ? PASSED : THREW; // Node's unhandled-rejection pass
      else if (mode === 5) return verdictOf(thrownValue); // what the last step threw
      else return '';
      return PASSED;
    } catch (error) {
      thrownValue = error;
      return THREW;
    }
  }
  defineProperty(G, secret, { value: dispatch, writable: false, enumerable: false, configurable: false });
  return freeze({
    __proto__: null,
    stash(mode, value) { pendingMode = mode; pendingValue = value; },
    forget() { thrownValue = undefined; },
    pendingTimers() { return mapSize(timers); },
    scope,
    globals, // set on the sandbox object by the host: plain writable globals, as in Node
  });
}

// ---------------------------------------------------------------------------------------------- host side
const frame = readFrame();
const nonce = frame.nonce;
const timeoutMs = Math.ceil(frame.timeout_ms);
// The name of the context's dispatch function need not be secret: it is a non-writable, non-configurable
// global (a candidate cannot replace or shadow it; calling it is a no-op): random only to stay clear of
// names code uses. (`crypto` would cost ~20 ms of start-up.)
const secret = `__codemill_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const filename = require('path').join(process.cwd(), 'main.js');
const BOOTSTRAP = new vm.Script('(' + codemillBootstrap.toString() + ')', { filename: 'codemill-bootstrap.js' });
const DISPATCH = new vm.Script(secret + '()', { filename: 'codemill-dispatch.js' });
// Reads the context's builtins by name (cheaper than through the vm's property interceptor) and removes the
// host hooks that would run code outside the per-test timeout (FinalizationRegistry, WeakRef), or block or
// share memory (Atomics, SharedArrayBuffer), plus WebAssembly and V8's own console.
const REMOVED_GLOBALS = ['FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer', 'Atomics', 'WebAssembly', 'console'];
const BUILTIN_NAMES = vm.runInNewContext('Object.getOwnPropertyNames(globalThis)')
  .filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && !REMOVED_GLOBALS.includes(name));
const CAPTURE = new vm.Script("(() => { 'use strict'; const builtins = Object.create(null);\n"
  + BUILTIN_NAMES.map((name) => `builtins.${name} = ${name};\n`).join('')
  + REMOVED_GLOBALS.map((name) => `delete globalThis.${name};\n`).join('') + 'return builtins; })()',
{ filename: 'codemill-builtins.js' });
const GLOBAL_NAMES = ['console', 'require', 'module', 'exports', '__filename', '__dirname', 'global', 'setTimeout',
  'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask'];
let currentTest = -1;
let rejected = false;
process.on('unhandledRejection', (reason) => {
  // Only recorded here: the reason is the context's value and is read in the context, under a timeout.
  if (currentTest >= 0 && rejected === false) rejected = { reason };
});

function emit(record) {
  try {
    writeAll(RESULT_FD, JSON.stringify(record) + '\n');
  } catch (error) {
    fatal(`cannot write results on fd ${RESULT_FD}: ${error.message}`, 3);
  }
}

function verdict(status, errorType, message) {
  return { status, errorType: errorType === null ? null : String(errorType).slice(0, 200),
    message: String(message).slice(0, MESSAGE_CAP) };
}

function parseVerdict(text, classifying) {
  let parsed;
  try { parsed = JSON.parse(text); } catch (_) { parsed = null; }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !STATUSES.has(parsed[0])
      || !(parsed[1] === null || typeof parsed[1] === 'string') || typeof parsed[2] !== 'string') {
    return verdict('error', 'Error', 'the harness could not classify the outcome');
  }
  // A thrown value never makes a pass, whatever the context's code did to the classification.
  if (classifying && parsed[0] === 'passed') return verdict('error', 'Error', parsed[2]);
  return verdict(parsed[0], parsed[1], parsed[2]);
}

function compileCandidate(code) {
  if (DYNAMIC_IMPORT.test(code)) {
    return { problem: verdict('error', 'SandboxViolation', 'dynamic import() is not available in the sandbox') };
  }
  try {
    return { script: new vm.Script(code, { filename }) };
  } catch (error) { // a SyntaxError of this realm, from V8's parser
    return { problem: verdict('error', error.name, error.message) };
  }
}

// Reads a thrown value inside its context (a getter or proxy trap there may loop or throw): mode 2 reads
// `thrown`, mode 5 the value the context kept from its last step.
function classify(context, host, mode, thrown) {
  try {
    host.stash(mode, thrown);
    return parseVerdict(DISPATCH.runInContext(context, { timeout: CLASSIFY_MS }), true);
  } catch (_) {
    return verdict('error', 'Error', '<unclassifiable thrown value>');
  } finally {
    host.forget();
  }
}

// Runs one evaluation in the context within what is left of the test's budget.
function evaluate(context, host, deadline, run) {
  const budget = Math.ceil(deadline - hrnow());
  if (budget <= 0) return verdict('timeout', 'Timeout', `timed out after ${timeoutMs} ms`);
  const started = hrnow();
  try {
    return run(budget);
  } catch (thrown) {
    // The watchdog's error is created in the context, so it is told apart by time, not by its shape.
    if (hrnow() - started >= budget - TIMER_SLACK_MS) {
      return verdict('timeout', 'Timeout', `timed out after ${timeoutMs} ms`);
    }
    return classify(context, host, 2, thrown);
  }
}

function runTest(candidate, source) {
  if (candidate.problem) return { ...candidate.problem, execS: 0 };
  if (DYNAMIC_IMPORT.test(source)) {
    return { ...verdict('error', 'SandboxViolation', 'dynamic import() is not available in the sandbox'), execS: 0 };
  }
  // A null-prototype sandbox: with an ordinary one, `this.constructor` in the context is this realm's Object.
  const context = vm.createContext(Object.create(null), CONTEXT_OPTIONS);
  const builtins = CAPTURE.runInContext(context);
  const install = BOOTSTRAP.runInContext(context);
  const host = install(builtins, hostWrite, hostTick, secret, filename, process.cwd(), MESSAGE_CAP, OUTPUT_CAP);
  for (const name of GLOBAL_NAMES) context[name] = host.globals[name];
  let test;
  try {
    // Compiled in the context before any candidate code ran there: the SyntaxError is pristine.
    test = vm.compileFunction("'use strict';" + source, [], {
      parsingContext: context, contextExtensions: [host.scope], filename: 'test.js',
    });
  } catch (error) {
    const message = Object.getOwnPropertyDescriptor(error, 'message');
    const text = message && typeof message.value === 'string' ? message.value : '';
    return { ...verdict('error', 'SyntaxError', text), execS: 0 };
  }
  const started = hrnow();
  const deadline = started + timeoutMs;
  let result = evaluate(context, host, deadline, (budget) => {
    candidate.script.runInContext(context, { timeout: budget });
    return verdict('passed', null, '');
  });
  const step = (mode, value, end) => evaluate(context, host, end, (budget) => {
    host.stash(mode, value);
    const text = DISPATCH.runInContext(context, { timeout: budget });
    return text === 'threw' ? classify(context, host, 5, undefined) : parseVerdict(text, false);
  });
  if (result.status === 'passed') result = step(1, test, deadline);
  while (result.status === 'passed' && host.pendingTimers() > 0) result = step(3, undefined, deadline);
  const execS = (hrnow() - started) / 1000;
  // Unhandled rejections of the context's promises: Node reports them (to the listener above) in its
  // tick pass, which runs as one more step, with a small budget of its own.
  const ticked = step(4, undefined, Math.max(deadline, hrnow() + CLASSIFY_MS));
  if (result.status === 'passed' && ticked.status !== 'passed') {
    result = verdict('error', 'Error', 'a rejected promise of the test could not be examined');
  }
  if (rejected !== false && result.status === 'passed') {
    result = classify(context, host, 2, rejected.reason);
    if (result.status === 'passed') result = verdict('error', 'Error', 'unhandled rejection');
  }
  rejected = false;
  return { ...result, execS };
}

function main() {
  const candidate = compileCandidate(frame.code);
  for (let i = 0; i < frame.tests.length; i++) {
    currentTest = i;
    const result = runTest(candidate, frame.tests[i]);
    currentTest = -1;
    const { status, errorType, message, execS } = result;
    emit({ i, nonce, status, error_type: errorType, message, exec_s: execS });
  }
  emit({ done: true, nonce });
  process.exit(0);
}

main();
