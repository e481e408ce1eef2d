// Parse Mermaid files with Mermaid itself: exit 1 if any fails. Usage: node check.mjs FILE...
import { JSDOM } from "jsdom";
import fs from "fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser; globalThis.Element = dom.window.Element;
const mermaid = (await import("mermaid")).default;
mermaid.initialize({ startOnLoad: false });
let bad = 0;
for (const f of process.argv.slice(2)) {
  try { await mermaid.parse(fs.readFileSync(f, "utf8")); console.log("ok", f); }
  catch (e) { bad++; console.log("FAIL", f, String(e.message || e).slice(0, 300)); }
}
process.exit(bad ? 1 : 0);
