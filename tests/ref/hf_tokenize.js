// hf_tokenize.js - the independent tokenizer reference: Hugging Face's Rust
// tokenizers (npm `tokenizers`, Node binding). Used only by tests/benchmarks.
//
//   node tests/ref/hf_tokenize.js TOKENIZER_JSON IN_JSON [--add-special '<v>' ...]
//
// IN_JSON holds a JSON array of strings. Prints a JSON array with, per string,
// {"ids": [...], "offsets": [[s,e],...]} (offsets in Unicode code points, as
// Python's return_offsets_mapping), encoded with add_special_tokens=false.
// With --decode, IN_JSON holds {"ids": [[...],...]} and it prints
// [{"text": decode(ids, false), "text_skip": decode(ids, true)}, ...].
'use strict';
const path = require('path');
const fs = require('fs');
const npmDir = process.env.VLM_NPM || path.join(__dirname, '..', '..', '.deps', 'npm');
const { Tokenizer } = require(path.join(npmDir, 'node_modules', 'tokenizers'));

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) { console.error('usage: hf_tokenize.js TOKENIZER_JSON IN_JSON [--add-special TOK]... [--decode]'); process.exit(2); }
  const tok = Tokenizer.fromFile(args[0]);
  const input = JSON.parse(fs.readFileSync(args[1], 'utf8'));
  let decode = false;
  const specials = [];
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '--add-special') specials.push(args[++i]);
    else if (args[i] === '--decode') decode = true;
  }
  if (specials.length) tok.addSpecialTokens(specials);
  const out = [];
  if (decode) {
    for (const ids of input.ids) {
      out.push({ text: await tok.decode(ids, false), text_skip: await tok.decode(ids, true) });
    }
  } else {
    for (const s of input) {
      const e = await tok.encode(s, null, { addSpecialTokens: false });
      out.push({ ids: Array.from(e.getIds()), offsets: e.getOffsets().map(o => [o[0], o[1]]) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
