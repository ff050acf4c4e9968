// Asynchronous helpers used as seed code for codemill's examples.

/** Resolve after `ms` milliseconds. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Call an async function, retrying up to `attempts` times with doubling delays. */
async function retry(fn, attempts = 3, delayMs = 100) {
  let lastError;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (error) {
      lastError = error;
      await sleep(delayMs * 2 ** i);
    }
  }
  throw lastError;
}

/** Return a function that runs `fn` only after `waitMs` of quiet since the last call. */
function debounce(fn, waitMs) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
}

/** A tiny event emitter with on/off/emit. */
class Emitter {
  constructor() {
    this.handlers = new Map();
  }
  on(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(handler);
  }
  emit(name, ...args) {
    for (const handler of this.handlers.get(name) || []) handler(...args);
  }
}

module.exports = { sleep, retry, debounce, Emitter };
