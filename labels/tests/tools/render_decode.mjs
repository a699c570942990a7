// Independent scan check: render ZPL files with a third-party renderer (zpl-renderer-js, a WASM
// build of the Go "zebrash" renderer) and decode every Code 128 in the image with a third-party
// decoder (zxing-wasm, ZXing-C++). Usage: node render_decode.mjs <dpmm> <file.zpl>...
// Prints one JSON line per decoded symbol: {"file", "text", "symbology"}.
import fs from "node:fs";
import { createRequire } from "node:module";
import { ready } from "zpl-renderer-js";
import { readBarcodes, prepareZXingModule } from "zxing-wasm/reader";

const require = createRequire(import.meta.url);
const wasmPath = require.resolve("zxing-wasm/reader/zxing_reader.wasm");
prepareZXingModule({ overrides: { wasmBinary: fs.readFileSync(wasmPath) }, fireImmediately: true });

const [dpmm, ...files] = process.argv.slice(2);
const { api } = await ready;
for (const file of files) {
  const zpl = fs.readFileSync(file, "utf8");
  const png = Buffer.from(await api.zplToBase64Async(zpl, 101.6, 152.4, Number(dpmm)), "base64");
  if (process.env.SCAN_CHECK_KEEP_PNG) fs.writeFileSync(file + ".png", png);
  const found = await readBarcodes(new Uint8Array(png), {
    formats: ["Code128"],
    maxNumberOfSymbols: 16,
    tryHarder: true,
  });
  for (const r of found) {
    console.log(JSON.stringify({ file, text: r.text, symbology: r.symbologyIdentifier }));
  }
}
