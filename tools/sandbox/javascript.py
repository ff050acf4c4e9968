"""The Node-side harness for JavaScript checks (written once per worker into its private directory).

It compiles candidate + test as one CommonJS module body, makes `console.assert` throw (HumanEvalPack's
tests rely on it, and in Node it only prints), runs it, waits for pending async work, and reports
completion with the nonce, like the Python harness does.
"""

from __future__ import annotations

RUNNER_JS = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const vm = require('vm');
const assert = require('assert');
const Module = require('module');
const [mainPath, reportFd, nonceFd] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const writeSync = fs.writeSync, readSync = fs.readSync, stringify = JSON.stringify;
let started = 0, reported = false;

function describe(error) {
  try { return String(error && error.message !== undefined ? error.message : error).slice(0, 2000); }
  catch (_) { return '<unprintable>'; }
}
function classify(error) {
  const name = (error && typeof error.name === 'string') ? error.name : 'Error';
  if (name === 'AssertionError' || (error && error.code === 'ERR_ASSERTION')) return ['failed', 'AssertionError'];
  return ['error', name];
}
function report(status, errorType, message) {
  if (reported) return;
  reported = true;
  const execS = started ? now() - started : 0;
  const buf = Buffer.alloc(64);
  const n = readSync(Number(nonceFd), buf, 0, 64, null);
  writeSync(Number(reportFd), stringify({nonce: buf.toString('ascii', 0, n), status,
    error_type: errorType, message, exec_s: execS}));
  process.exitCode = 0;
}
function fail(error) {
  const [status, type] = classify(error);
  report(status, type, describe(error));
  process.exit(0);
}

console.assert = (value, ...message) => {
  if (!value) {
    throw new assert.AssertionError({message: message.length ? util.format(...message) : 'console.assert failed'});
  }
};

let body;
try {
  const source = fs.readFileSync(mainPath, 'utf8');
  body = new vm.Script(Module.wrap(source), {filename: mainPath}).runInThisContext();
} catch (error) {
  fail(error);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('beforeExit', () => report('passed', null, ''));
const mod = new Module(mainPath, null);
mod.filename = mainPath;
mod.paths = Module._nodeModulePaths(path.dirname(mainPath));
const localRequire = (id) => mod.require(id);
started = now();
try {
  body.call(mod.exports, mod.exports, localRequire, mod, mainPath, path.dirname(mainPath));
} catch (error) {
  fail(error);
}
"""
