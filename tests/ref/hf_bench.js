// hf_bench.js - single-thread encode throughput of Hugging Face's Rust
// tokenizers (npm `tokenizers`, Node binding), for comparison with
// `videollm bench-tokenizer` on the same corpus.
//
//   node tests/ref/hf_bench.js TOKENIZER_JSON CORPUS [--chunk BYTES] [--repeat N]
//
// The corpus is read and cut exactly as `videollm bench-tokenizer` cuts it (a
// chunk ends at the first '\n' at or after BYTES bytes; 0 = whole file) before
// timing. Each chunk is one `await tok.encode(chunk, null, {addSpecialTokens:
// false})`, issued sequentially; only those calls are timed (best of N). The
// CPU time of the process over the timed loop is reported as cpu_cores
// (user+system / wall) to show how many cores the binding really used.
// Prints one JSON line like the C tool.
'use strict';
const path = require('path');
const fs = require('fs');
const npmDir = process.env.VLM_NPM || path.join(__dirname, '..', '..', '.deps', 'npm');
const { Tokenizer } = require(path.join(npmDir, 'node_modules', 'tokenizers'));

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) { console.error('usage: hf_bench.js TOKENIZER_JSON CORPUS [--chunk BYTES] [--repeat N]'); process.exit(2); }
  let chunk = 4096, repeat = 3;
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '--chunk') chunk = parseInt(args[++i], 10);
    else if (args[i] === '--repeat') repeat = parseInt(args[++i], 10);
  }
  const tok = Tokenizer.fromFile(args[0]);
  const buf = fs.readFileSync(args[1]);
  const chunks = [];
  for (let p = 0; p < buf.length;) {
    let q = buf.length;
    if (chunk > 0 && chunk < buf.length - p) {
      const nl = buf.indexOf(0x0a, p + chunk - 1);
      q = nl >= 0 ? nl + 1 : buf.length;
    }
    chunks.push(buf.toString('utf8', p, q));
    p = q;
  }
  // warm-up (page in the binding and its caches outside the timed region)
  for (let i = 0; i < Math.min(chunks.length, 20); i++) await tok.encode(chunks[i], null, { addSpecialTokens: false });
  let best = Infinity, bestCpu = 0, tokens = 0;
  for (let r = 0; r < repeat; r++) {
    const encs = new Array(chunks.length);
    let t = 0;
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    for (let i = 0; i < chunks.length; i++) {
      const t0 = process.hrtime.bigint();
      encs[i] = await tok.encode(chunks[i], null, { addSpecialTokens: false });
      t += Number(process.hrtime.bigint() - t0) / 1e9;
    }
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    let n = 0;
    for (const e of encs) n += e.getLength();
    tokens = n;
    if (t < best) { best = t; bestCpu = (cpu.user + cpu.system) / 1e6 / wall; }
  }
  process.stdout.write(JSON.stringify({
    bytes: buf.length, chunks: chunks.length, tokens, seconds: +best.toFixed(6),
    mb_per_s: +(buf.length / best / 1e6).toFixed(3), tokens_per_s: Math.round(tokens / best),
    cpu_cores: +bestCpu.toFixed(2),
  }) + '\n');
}
main().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
