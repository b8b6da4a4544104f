#!/usr/bin/env node
// check.js: a standard JSON Schema validator (ajv 8, draft 2020-12, formats on) must agree with
// the decoder's fixture corpus.
//
//   tests/fixtures/events/valid/<case>/input.json    must validate against event.schema.json
//   tests/fixtures/events/invalid/<case>/input.json  must not (input that is not UTF-8 or not
//                                                    JSON counts as "not valid")
//   schemas/known-differences.txt                    cases where JSON Schema cannot say the
//                                                    rule: there the verdict must DIFFER, so a
//                                                    stale entry fails too
//   schemas/outputs/*.schema.json                    must compile, and validate the examples
//                                                    tests/fixtures/outputs/<schema>[-<x>].json
//   schemas/config.schema.json                       when present: validates config/default.json
//
//   --replay DIR                                     every record of a replay's output folder
//                                                    matches its schema in schemas/outputs/
//
// Usage: node check.js [-v] [--replay DIR]   (-v also prints passing checks). Exit status 1 on
// any failure.
"use strict";

const fs = require("fs");
const path = require("path");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const ROOT = path.resolve(__dirname, "..", "..");
const SCHEMAS = path.join(ROOT, "schemas");
const EVENTS = path.join(ROOT, "tests", "fixtures", "events");
const OUTPUTS = path.join(ROOT, "tests", "fixtures", "outputs");
const KNOWN = path.join(SCHEMAS, "known-differences.txt");
const CONFIG = path.join(ROOT, "config", "default.json");
const verbose = process.argv.includes("-v");

let passed = 0;
let failed = 0;
function pass(what) {
  passed++;
  if (verbose) console.log(`ok: ${what}`);
}
function fail(what) {
  failed++;
  console.log(`FAIL: ${what}`);
}

function rel(p) {
  return path.relative(ROOT, p);
}

// Strict on: unknown keywords, ignored "additionalItems", missing types for type-specific
// keywords... all throw. Two relaxations the schemas need: union types (the depth chain accepts
// any JSON value) and "required" in an if/then branch naming a property defined by its parent
// (the per-action requirements: {"if": {action: opened}, "then": {"required": ["severity"]}}).
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv); // full mode: "date-time" requires an offset

function listSchemas(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".schema.json"))
    .sort()
    .map((f) => path.join(dir, f));
}

// Load every schema first (they $ref each other by $id), then compile each.
const schemaFiles = [
  ...listSchemas(path.join(SCHEMAS, "events")),
  ...listSchemas(path.join(SCHEMAS, "outputs")),
  ...listSchemas(SCHEMAS),
];
const ids = new Map(); // file -> $id
for (const file of schemaFiles) {
  try {
    const schema = JSON.parse(fs.readFileSync(file, "utf8"));
    ajv.addSchema(schema);
    ids.set(file, schema.$id);
  } catch (e) {
    fail(`${rel(file)}: cannot load: ${e.message}`);
  }
}
const validators = new Map(); // basename without .schema.json, dir-qualified -> validate fn
for (const [file, id] of ids) {
  try {
    const validate = ajv.getSchema(id);
    if (!validate) throw new Error(`no schema with $id ${id}`);
    validators.set(rel(file), validate);
    pass(`${rel(file)} compiles`);
  } catch (e) {
    fail(`${rel(file)}: does not compile: ${e.message}`);
  }
}

function errorsText(validate) {
  return ajv.errorsText(validate.errors, { separator: "; " }).slice(0, 400);
}

// Bytes -> value the way a strict reader does: UTF-8 without BOM (a BOM stays in the text and
// JSON.parse rejects it), then JSON. Returns {ok, value} or {ok: false, why}.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function parseBytes(buf) {
  let text;
  try {
    text = utf8.decode(buf);
  } catch (e) {
    return { ok: false, why: "not UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, why: `not JSON: ${e.message}` };
  }
}

// known-differences.txt: "<valid|invalid>/<case>  <reason>", '#' comments, blank lines.
function loadKnown() {
  const known = new Map();
  if (!fs.existsSync(KNOWN)) return known;
  const lines = fs.readFileSync(KNOWN, "utf8").split("\n");
  lines.forEach((line, i) => {
    const s = line.trim();
    if (s === "" || s.startsWith("#")) return;
    const m = /^((?:valid|invalid)\/[^\s]+)\s+(\S.*)$/.exec(s);
    if (!m) {
      fail(`${rel(KNOWN)}:${i + 1}: expected "<valid|invalid>/<case>  <reason>", got: ${s}`);
      return;
    }
    if (known.has(m[1])) fail(`${rel(KNOWN)}:${i + 1}: ${m[1]} listed twice`);
    known.set(m[1], m[2]);
  });
  return known;
}

function checkEvents() {
  const validate = validators.get(path.join("schemas", "events", "event.schema.json"));
  if (!validate) {
    fail("schemas/events/event.schema.json: missing, cannot check the event fixtures");
    return;
  }
  const known = loadKnown();
  const seen = new Set();
  for (const verdict of ["valid", "invalid"]) {
    const dir = path.join(EVENTS, verdict);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const caseDir = path.join(dir, name);
      const input = path.join(caseDir, "input.json");
      if (!fs.statSync(caseDir).isDirectory() || !fs.existsSync(input)) continue;
      const key = `${verdict}/${name}`;
      seen.add(key);
      const parsed = parseBytes(fs.readFileSync(input));
      const ok = parsed.ok && validate(parsed.value);
      const why = !parsed.ok ? parsed.why : ok ? "ajv: valid" : `ajv: ${errorsText(validate)}`;
      const expected = verdict === "valid";
      let decoderWhy = "";
      const errFile = path.join(caseDir, "error");
      if (fs.existsSync(errFile)) decoderWhy = ` (decoder: ${fs.readFileSync(errFile, "utf8").trim()})`;
      if (known.has(key)) {
        if (ok !== expected) pass(`${key}: differs as listed (${known.get(key)})`);
        else fail(`${key}: listed in known-differences.txt but ajv agrees now (${why}); remove the line`);
      } else if (ok === expected) {
        pass(`${key}`);
      } else {
        fail(`${key}: decoder says ${verdict}, ${why}${decoderWhy}`);
      }
    }
  }
  for (const key of known.keys()) {
    if (!seen.has(key)) fail(`${key}: listed in known-differences.txt but no such fixture`);
  }
}

// tests/fixtures/outputs/<schema>[-<variant>].json: one record, or an array of records.
function checkOutputs() {
  if (!fs.existsSync(OUTPUTS)) {
    fail(`${rel(OUTPUTS)}: missing`);
    return;
  }
  const covered = new Set();
  for (const f of fs.readdirSync(OUTPUTS).filter((f) => f.endsWith(".json")).sort()) {
    const file = path.join(OUTPUTS, f);
    const stem = f.replace(/\.json$/, "").replace(/-.*$/, "");
    const key = path.join("schemas", "outputs", `${stem}.schema.json`);
    const validate = validators.get(key);
    if (!validate) {
      fail(`${rel(file)}: no schema ${key}`);
      continue;
    }
    covered.add(key);
    const parsed = parseBytes(fs.readFileSync(file));
    if (!parsed.ok) {
      fail(`${rel(file)}: ${parsed.why}`);
      continue;
    }
    const records = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
    records.forEach((r, i) => {
      const what = `${rel(file)}${records.length > 1 ? `[${i}]` : ""}`;
      if (validate(r)) pass(`${what} matches ${key}`);
      else fail(`${what}: does not match ${key}: ${errorsText(validate)}`);
    });
  }
  for (const key of validators.keys()) {
    if (key.startsWith(path.join("schemas", "outputs")) && !covered.has(key)) {
      fail(`${key}: no example in ${rel(OUTPUTS)}`);
    }
  }
}

function checkConfig() {
  const key = path.join("schemas", "config.schema.json");
  const validate = validators.get(key);
  if (!validate) return; // not written yet: see schemas/README.md
  if (!fs.existsSync(CONFIG)) {
    fail(`${rel(CONFIG)}: missing, but ${key} exists`);
    return;
  }
  const parsed = parseBytes(fs.readFileSync(CONFIG));
  if (!parsed.ok) fail(`${rel(CONFIG)}: ${parsed.why}`);
  else if (validate(parsed.value)) pass(`${rel(CONFIG)} matches ${key}`);
  else fail(`${rel(CONFIG)}: does not match ${key}: ${errorsText(validate)}`);
}

// --replay DIR: every record a replay wrote must match its output schema.
function checkReplay(dir) {
  const streams = [
    ["alerts.jsonl", "alert"],
    ["aggregates.jsonl", "aggregate"],
    ["deadletter.jsonl", "deadletter"],
  ];
  for (const [file, stem] of streams) {
    const validate = validators.get(path.join("schemas", "outputs", `${stem}.schema.json`));
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) {
      fail(`${full}: missing`);
      continue;
    }
    const lines = fs.readFileSync(full, "utf8").split("\n").filter((l) => l.length > 0);
    let bad = 0;
    lines.forEach((line, i) => {
      if (!validate(JSON.parse(line))) {
        if (bad++ < 3) fail(`${full}:${i + 1}: does not match ${stem}: ${errorsText(validate)}`);
      }
    });
    if (bad === 0) pass(`${full}: ${lines.length} records match ${stem}`);
  }
  const validate = validators.get(path.join("schemas", "outputs", "snapshot.schema.json"));
  const snaps = path.join(dir, "snapshots");
  for (const f of fs.readdirSync(snaps).filter((f) => f.endsWith(".json")).sort()) {
    const full = path.join(snaps, f);
    if (validate(JSON.parse(fs.readFileSync(full, "utf8")))) pass(`${full} matches snapshot`);
    else fail(`${full}: does not match snapshot: ${errorsText(validate)}`);
  }
}

checkEvents();
checkOutputs();
checkConfig();
const replayAt = process.argv.indexOf("--replay");
if (replayAt > 0) checkReplay(process.argv[replayAt + 1]);
console.log(`schema agreement: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
