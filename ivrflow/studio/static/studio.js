// ivrflow studio: the page. Plain JavaScript, no build step, nothing fetched
// but this server's own API (docs/studio-api.md is the contract).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("studio-config").textContent || "{}");

  const state = {
    files: config.files || [],
    fileId: null,
    view: null,          // GET /api/files/{id}
    selected: null,      // node id shown in the details panel
    call: null,          // call state of the simulator
    coverage: false,
    actualSize: false,
    heardShown: 0,       // how many of call.heard are already on the page
  };

  // ---- small helpers -------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch { /* not JSON */ }
    if (!response.ok) {
      const message = data && data.error ? `${data.error.message} (${data.error.code})` : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return data;
  }

  function locationText(item) {
    return [item.file, item.line, item.column].filter((part) => part !== null && part !== undefined && part !== "")
      .join(":");
  }

  // A file:line:col that opens in the user's editor when a URL template is configured,
  // else text to copy.
  function sourceLink(item) {
    const text = locationText(item);
    if (item.editor_url) {
      return el("a", { className: "loc", href: item.editor_url, title: "Open in your editor" }, text);
    }
    return el("code", { className: "loc", title: "Copy this location" }, text);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      const area = el("textarea", { className: "offscreen", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch { ok = false; }
      area.remove();
      return ok;
    }
  }

  function download(name, blob) {
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, className: "offscreen" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function currentFile() {
    return state.files.find((file) => file.id === state.fileId) || { id: state.fileId, name: "flow.ivr" };
  }

  // ---- files ---------------------------------------------------------------

  function renderFiles() {
    for (const button of document.querySelectorAll("#files button.file")) {
      const selected = button.dataset.file === state.fileId;
      button.setAttribute("aria-current", selected ? "page" : "false");
    }
  }

  function markFile(fileId, stale) {
    const button = document.querySelector(`#files button[data-file="${CSS.escape(String(fileId))}"]`);
    if (button) button.classList.toggle("has-errors", Boolean(stale));
  }

  async function selectFile(fileId) {
    if (state.fileId === fileId && state.view) return;
    state.fileId = fileId;
    state.view = null;
    state.selected = null;
    resetCall();
    if (history.replaceState) history.replaceState(null, "", `#${fileId}`);
    renderFiles();
    await loadView();
  }

  // ---- the file's view: diagram, diagnostics, details ----------------------

  async function loadView() {
    const fileId = state.fileId;
    let view;
    try {
      view = await api(`api/files/${encodeURIComponent(fileId)}`);
    } catch (error) {  // the diagram on the page stays; the next event tries again
      $("problem").hidden = false;
      $("problem").textContent = `Could not load the file: ${error.message}`;
      return;
    }
    if (fileId !== state.fileId) return;  // another file was chosen meanwhile
    if (state.view && state.view.id === view.id && view.version < state.view.version) return;  // an older answer
    const svgChanged = !state.view || state.view.svg !== view.svg;
    const newVersion = Boolean(state.view) && state.view.version !== view.version;
    state.view = view;
    document.title = `ivrflow studio — ${currentFile().name}`;
    $("file-path").textContent = view.path;
    const tests = typeof view.tests === "number" ? ` · ${view.tests} test${view.tests === 1 ? "" : "s"}` : "";
    $("version").textContent = `version ${view.version}${tests}`;
    $("stale").hidden = !view.stale || !view.svg;  // without a diagram, the diagram's box says why
    $("drawing").hidden = !view.drawing;  // a large flow: checked first, drawn next (another version)
    $("problem").hidden = !view.problem;
    $("problem").textContent = view.problem || "";
    $("diagram").classList.toggle("is-stale", Boolean(view.stale));
    markFile(view.id, view.stale);
    document.body.dataset.version = String(view.version);
    document.body.dataset.stale = String(Boolean(view.stale));
    if (svgChanged) renderDiagram();
    renderDiagnostics();
    if (state.selected && !(view.nodes && view.nodes[state.selected])) state.selected = null;
    renderDetails();
    paintCall();
    if (state.coverage) await loadCoverage();
    if (newVersion && live(state.call)) {
      $("call-status").textContent = "The file changed: restart the call to follow the new version.";
    }
  }

  function renderDiagram() {
    const box = $("diagram");
    const svgText = state.view && state.view.svg;
    if (!svgText) {
      box.replaceChildren(el("p", { className: "empty" },
        "No diagram yet: the file does not parse. Fix the errors listed and save."));
      return;
    }
    const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = parsed.documentElement;
    if (svg.nodeName.toLowerCase() !== "svg") {
      box.replaceChildren(el("p", { className: "empty" }, "The diagram could not be read."));
      return;
    }
    const imported = document.importNode(svg, true);
    imported.dataset.width = imported.getAttribute("width") || "";
    imported.dataset.height = imported.getAttribute("height") || "";
    imported.setAttribute("role", "img");
    imported.setAttribute("aria-label", `Diagram of ${currentFile().name}`);
    for (const node of imported.querySelectorAll("g.node")) {
      if (!node.id.startsWith("node-")) continue;
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
      const title = node.querySelector("title");
      node.setAttribute("aria-label", `Node ${title ? title.textContent : node.id.slice(5)}`);
      // The <title> tooltip would repeat the id; the details panel says more.
      if (title) title.remove();
    }
    box.replaceChildren(imported);
    applySize();
  }

  function applySize() {
    const svg = $("diagram").querySelector("svg");
    $("zoom-toggle").setAttribute("aria-pressed", String(state.actualSize));
    $("zoom-toggle").textContent = state.actualSize ? "Fit to width" : "Actual size";
    if (!svg) return;
    if (state.actualSize) {
      svg.setAttribute("width", svg.dataset.width);
      svg.setAttribute("height", svg.dataset.height);
      svg.classList.remove("fit");
    } else {
      svg.removeAttribute("width");
      svg.removeAttribute("height");
      svg.classList.add("fit");
    }
  }

  function renderDiagnostics() {
    const list = $("diagnostics");
    const diagnostics = (state.view && state.view.diagnostics) || [];
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    $("diagnostics-count").textContent = diagnostics.length
      ? `${diagnostics.length} (${errors} error${errors === 1 ? "" : "s"})` : "";
    if (!diagnostics.length) {
      list.replaceChildren(el("li", { className: "clean" }, "No problems found."));
      return;
    }
    list.replaceChildren(...diagnostics.map((d) => el("li", { className: `diagnostic ${d.severity}` },
      sourceLink(d), " ",
      el("span", { className: `severity ${d.severity}` }, `${d.severity}[${d.code}]`), " ",
      el("span", { className: "message" }, d.message))));
  }

  function selectNode(nodeId) {
    if (!state.view || !state.view.nodes || !state.view.nodes[nodeId]) return;
    state.selected = nodeId;
    renderDetails();
    paintSelection();
  }

  function paintSelection() {
    for (const node of $("diagram").querySelectorAll("g.node.selected")) node.classList.remove("selected");
    if (!state.selected) return;
    const node = document.getElementById(`node-${state.selected}`);
    if (node) node.classList.add("selected");
  }

  function definitionList(pairs) {
    const list = el("dl", { className: "pairs" });
    for (const [term, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", {}, term), el("dd", {}, value));
    }
    return list;
  }

  function table(headings, rows) {
    return el("table", { className: "keys" },
      el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map(([first, ...rest]) => el("tr", {},
        el("th", { scope: "row" }, first), ...rest.map((cell) => el("td", {}, cell))))));
  }

  function renderDetails() {
    const box = $("details");
    const node = state.selected && state.view && state.view.nodes ? state.view.nodes[state.selected] : null;
    if (!node) {
      box.replaceChildren(el("p", { className: "hint" },
        "Select a node in the diagram to see its prompts, keys and handlers."));
      return;
    }
    const details = node.details || {};
    const parts = [
      el("p", { className: "node-title" },
        el("strong", {}, state.selected), " ", el("span", { className: "kind" }, node.kind || ""),
        node.label ? el("span", { className: "label" }, ` “${node.label}”`) : null),
    ];
    if (node.file) {
      const location = sourceLink(node);
      const copy = el("button", { type: "button", className: "small-button", "aria-label": "Copy the location",
        onclick: async () => { copy.textContent = (await copyText(locationText(node))) ? "Copied" : "Copy failed"; } },
      "Copy");
      parts.push(el("p", { className: "source" }, "Defined at ", location, " ", copy));
    }
    const prompts = details.prompts || [];
    if (prompts.length) {
      parts.push(el("h3", {}, "Prompts"), el("ul", { className: "prompts" }, ...prompts.map((p) => el("li", {},
        el("strong", {}, p.name || ""), p.text ? ` “${p.text}”` : "",
        p.file ? el("span", { className: "file" }, ` recording ${p.file}`) : null,
        p.when && p.when !== "always" ? el("span", { className: "when" }, ` (${p.when})`) : null,
        p.fully ? el("span", { className: "when" }, " (played fully)") : null))));
    }
    const keys = details.keys || [];
    if (keys.length) {
      parts.push(el("h3", {}, "Keys"), table(["key", "goes to"], keys.map((k) => [el("kbd", {}, k.key), k.to])));
    }
    const branches = details.branches || [];
    if (branches.length) {
      parts.push(el("h3", {}, "Branches"), table(["when", "goes to"], branches.map((b) => [b.when, b.to])));
    }
    const defaults = new Set(details.defaults || []);
    const shown = (value, name) => {
      const text = Array.isArray(value) ? value.join(", ") : String(value);
      return defaults.has(name) ? el("span", {}, text, el("span", { className: "default" }, " (default)")) : text;
    };
    const settings = [];
    for (const [name, value] of Object.entries(details)) {
      if (["prompts", "keys", "branches", "handlers", "defaults"].includes(name)) continue;
      if (value === null || value === undefined || (typeof value === "object" && !Array.isArray(value))) continue;
      const label = name.replace(/_/g, "-");
      settings.push([label, shown(value, label)]);
    }
    for (const [name, value] of Object.entries(details.handlers || {})) {
      if (value !== null && value !== undefined) settings.push([`on ${name}`, shown(value, `handlers.${name}`)]);
    }
    if (settings.length) parts.push(el("h3", {}, "Settings"), definitionList(settings));
    box.replaceChildren(...parts);
  }

  // ---- coverage ------------------------------------------------------------

  function clearClasses(...names) {
    for (const name of names) {
      for (const item of $("diagram").querySelectorAll(`.${name}`)) item.classList.remove(name);
    }
  }

  async function loadCoverage() {
    let coverage;
    try {
      coverage = await api(`api/files/${encodeURIComponent(state.fileId)}/coverage`);
    } catch (error) {
      $("coverage-summary").hidden = false;
      $("coverage-summary").textContent = `Coverage unavailable: ${error.message}`;
      return;
    }
    if (!state.coverage) return;
    clearClasses("covered", "missed");
    for (const [id, covered] of Object.entries(coverage.nodes || {})) {
      const node = document.getElementById(`node-${id}`);
      if (node) node.classList.add(covered ? "covered" : "missed");
    }
    for (const [id, covered] of Object.entries(coverage.edges || {})) {
      const edge = document.getElementById(`edge-${id}`);
      if (edge) edge.classList.add(covered ? "covered" : "missed");
    }
    const summary = $("coverage-summary");
    const missed = coverage.missed || [];
    const percent = typeof coverage.percent === "number" ? `${Math.round(coverage.percent * 10) / 10}%` : "";
    summary.replaceChildren(
      el("strong", {}, `Tests cover ${percent}`),
      missed.length ? " — not exercised: " : " — every branch is exercised.",
      ...missed.flatMap((m, i) => [i ? "; " : "", el("span", { className: "missed-item" },
        m.what, m.line ? ` (line ${m.line})` : "")]));
    summary.hidden = false;
  }

  async function toggleCoverage() {
    state.coverage = !state.coverage;
    $("coverage-toggle").setAttribute("aria-pressed", String(state.coverage));
    $("diagram").classList.toggle("coverage", state.coverage);
    if (state.coverage) {
      await loadCoverage();
    } else {
      clearClasses("covered", "missed");
      $("coverage-summary").hidden = true;
    }
  }

  // ---- the caller simulator -------------------------------------------------

  function resetCall() {
    state.call = null;
    state.heardShown = 0;
    stopSound();
    $("heard").replaceChildren();
    $("ended").hidden = true;
    $("choices").hidden = true;
    $("collect-form").hidden = true;
    $("answer-form").hidden = true;
    $("test-box").hidden = true;
    $("call-status").textContent = "No call yet.";
    $("call-start").textContent = "Start call";
    clearClasses("current", "visited");
  }

  function callBody() {
    const at = $("call-at").value;  // "2026-11-23T10:00" or ""
    const caller = $("call-caller").value.trim();
    return { at: at ? at.replace("T", " ") : null, caller: caller || null };
  }

  let queue = Promise.resolve();
  // Requests to the simulator go one after another, in the order they were made.
  function serial(task) {
    queue = queue.then(task, task);
    return queue;
  }

  async function beginCall() {
    resetCall();
    $("call-status").textContent = "Calling…";
    try {
      showCall(await api(`api/files/${encodeURIComponent(state.fileId)}/calls`, callBody()));
    } catch (error) {
      $("call-status").textContent = `Could not start the call: ${error.message}`;
    }
  }

  function startCall() {
    return serial(beginCall);
  }

  // One input to the call; a key pressed with no call going starts one first.
  function send(input) {
    return serial(async () => {
      if (!live(state.call)) await beginCall();
      if (!live(state.call)) return;
      try {
        showCall(await api(`api/calls/${encodeURIComponent(state.call.call)}`, { input }));
      } catch (error) {
        $("call-status").textContent = `Not sent: ${error.message}`;
      }
    });
  }

  function showCall(call) {
    if (call.file && call.file !== state.fileId) return;  // an answer about a file no longer shown
    state.call = call;
    $("call-start").textContent = "Restart call";
    const heard = call.heard || [];
    if (heard.length < state.heardShown) {  // a different call: start the list again
      $("heard").replaceChildren();
      state.heardShown = 0;
    }
    for (const item of heard.slice(state.heardShown)) {
      $("heard").append(heardItem(item));
      say(item);
    }
    state.heardShown = heard.length;
    const ended = call.ended;
    $("ended").hidden = !ended;
    $("ended").className = `ended ${ended ? ended.kind : ""}`;
    $("ended").textContent = !ended ? "" : call.waiting ? `${ended.text} …` : `Call ended: ${ended.text}`;
    const waiting = call.waiting;
    $("call-status").textContent = waiting ? waitingText(call)
      : ended ? "The call is over. Start again to make another." : `At ${call.node}.`;
    $("collect-form").hidden = waiting !== "keys";
    renderChoices(choicesOf(call));
    renderAnswerForm(call);
    if (state.call && call.test) $("test-text").textContent = call.test;
    paintCall();
  }

  function isCollect(nodeId) {
    const node = state.view && state.view.nodes ? state.view.nodes[nodeId] : null;
    return Boolean(node && node.kind === "collect");
  }

  function waitingText(call) {
    const node = state.view && state.view.nodes ? state.view.nodes[call.node] : null;
    const where = node && node.label ? `${call.node} “${node.label}”` : call.node;
    switch (call.waiting) {
      case "keys": return isCollect(call.node)
        ? `At ${where}: type the digits, or press keys.` : `At ${where}: press a key, or stay silent.`;
      case "ask": return `At ${where}: the flow asks its routing service; choose the answer.`;
      case "lookup": return `At ${where}: the flow looks something up; give its answer below.`;
      case "ring": return `At ${where}: the transfer is ringing.`;
      default: return `At ${where}.`;
    }
  }

  // The buttons for an ask's answers, a lookup's answers or a ringing transfer.
  function choicesOf(call) {
    switch (call.waiting) {
      case "ask": return (call.choices || []).map((c) => ({ label: c, input: `answer:${c}` }));
      case "lookup": return [{ label: "The lookup fails", input: "lookup:error" }];
      case "ring": return [
        { label: "Answered", input: null },
        { label: "No answer", input: "no-answer" },
        { label: "Busy", input: "busy" },
        { label: "Failed", input: "failed" },
      ];
      default: return [];
    }
  }

  // A call is live while it waits for the caller or for an answer (a ringing
  // transfer has already `ended`: it connects unless told otherwise).
  function live(call) {
    return Boolean(call && (!call.ended || call.waiting));
  }

  // Free answers: an ask that declares none (any terminal action), or a lookup's values.
  function renderAnswerForm(call) {
    const form = $("answer-form");
    const fields = $("answer-fields");
    if (call.waiting === "ask" && !(call.choices || []).length) {
      fields.replaceChildren(el("label", {}, "The service answers (an action such as transfer \"200\")",
        el("input", { type: "text", name: "action", autocomplete: "off", required: true })));
      form.dataset.kind = "ask";
    } else if (call.waiting === "lookup" && call.lookup) {
      fields.replaceChildren(...(call.lookup.receive || []).map((name) => el("label", {},
        `${name.replace(/\?$/, "")}${name.endsWith("?") ? " (may be left out)" : ""}`,
        el("input", { type: "text", name: name.replace(/\?$/, ""), autocomplete: "off" }))));
      form.dataset.kind = "lookup";
      $("answer-heading").textContent = `What ${call.lookup.name} answers`;
    } else {
      form.hidden = true;
      return;
    }
    if (form.dataset.kind === "ask") $("answer-heading").textContent = `What ${call.asking || "the service"} answers`;
    form.hidden = false;
  }

  function answerInput() {
    const form = $("answer-form");
    const inputs = [...form.querySelectorAll("input")];
    if (form.dataset.kind === "ask") return `answer:${inputs[0].value.trim()}`;
    const values = inputs.filter((input) => input.value.trim() !== "")
      .map((input) => `${input.name}=${input.value.trim()}`);
    return `lookup:${values.join(",")}`;
  }

  // The ringing transfer is answered: nothing to send, the call is over.
  function connect() {
    if (!state.call) return;
    showCall({ ...state.call, waiting: null });
  }

  function renderChoices(choices) {
    const box = $("choices");
    box.hidden = choices.length === 0;
    box.replaceChildren(...choices.map((choice) => el("button", {
      type: "button", className: "choice", "data-input": choice.input,
      onclick: () => (choice.input === null ? connect() : send(choice.input)),
    }, choice.label)));
  }

  function heardItem(item) {
    if (item.kind === "file") {
      const li = el("li", { className: "heard-file" }, el("span", { className: "icon", "aria-hidden": "true" }, "♪ "),
        el("span", { className: "text" }, item.text));
      if (item.url) {
        li.append(" ", el("button", { type: "button", className: "small-button", "aria-label": `Play ${item.text}`,
          onclick: () => playFile(item.url) }, "Play"));
      }
      return li;
    }
    return el("li", { className: `heard-${item.kind || "say"}`, lang: item.language || null },
      el("span", { className: "icon", "aria-hidden": "true" }, "“"), el("span", { className: "text" }, item.text),
      el("span", { className: "icon", "aria-hidden": "true" }, "”"));
  }

  function paintCall() {
    clearClasses("current", "visited");
    const call = state.call;
    if (call) {
      for (const id of call.path || []) {
        const node = document.getElementById(`node-${id}`);
        if (node) node.classList.add("visited");
      }
      for (const id of call.edges || []) {
        const edge = document.getElementById(`edge-${id}`);
        if (edge) edge.classList.add("visited");
      }
      const current = call.node && document.getElementById(`node-${call.node}`);
      if (current) {
        current.classList.add("current");
        if (state.actualSize && current.scrollIntoView) current.scrollIntoView({ block: "nearest", inline: "nearest" });
      }
    }
    paintSelection();
  }

  // ---- sound: say prompts through speech synthesis, recordings played -----

  let soundQueue = Promise.resolve();
  let soundGeneration = 0;
  let audio = null;

  function stopSound() {
    soundGeneration += 1;
    if ("speechSynthesis" in window) window.speechSynthesis.cancel();
    if (audio) { audio.pause(); audio = null; }
    soundQueue = Promise.resolve();
  }

  function say(item) {
    if (!$("speak").checked) return;
    const generation = soundGeneration;
    soundQueue = soundQueue.then(() => (generation === soundGeneration ? sound(item) : undefined));
  }

  function sound(item) {
    return new Promise((resolve) => {
      const done = () => resolve();
      if (item.kind === "file" && item.url) {
        audio = new Audio(item.url);
        audio.addEventListener("ended", done);
        audio.addEventListener("error", done);
        audio.play().catch(done);
      } else if (item.kind !== "file" && "speechSynthesis" in window && item.text) {
        const utterance = new SpeechSynthesisUtterance(item.text);
        if (item.language) utterance.lang = item.language;
        utterance.addEventListener("end", done);
        utterance.addEventListener("error", done);
        window.speechSynthesis.speak(utterance);
        setTimeout(done, 200 + 120 * item.text.length);  // engines without voices never end
      } else {
        done();
      }
    });
  }

  function playFile(url) {
    if (audio) audio.pause();
    audio = new Audio(url);
    audio.play().catch(() => {});
  }

  // ---- export ---------------------------------------------------------------

  function exportName(extension) {
    return currentFile().name.replace(/\.ivr$/, "") + extension;
  }

  function exportSvg() {
    if (!state.view || !state.view.svg) return;
    download(exportName(".svg"), new Blob([state.view.svg], { type: "image/svg+xml" }));
  }

  // The PNG is the SVG drawn on a canvas at twice its size (less for a diagram
  // past the largest canvas browsers draw), on white.
  function pngBlob() {
    return new Promise((resolve, reject) => {
      if (!state.view || !state.view.svg) { reject(new Error("no diagram")); return; }
      const svgUrl = URL.createObjectURL(new Blob([state.view.svg], { type: "image/svg+xml" }));
      const image = new Image();
      image.onload = () => {
        const scale = Math.min(2, 16000 / Math.max(image.naturalWidth, image.naturalHeight, 1));
        const canvas = document.createElement("canvas");
        canvas.width = Math.ceil(image.naturalWidth * scale);
        canvas.height = Math.ceil(image.naturalHeight * scale);
        const context = canvas.getContext("2d");
        context.fillStyle = "white";
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(svgUrl);
        canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas made no PNG"))), "image/png");
      };
      image.onerror = () => { URL.revokeObjectURL(svgUrl); reject(new Error("the SVG could not be drawn")); };
      image.src = svgUrl;
    });
  }

  async function exportPng() {
    try {
      download(exportName(".png"), await pngBlob());
    } catch (error) {
      $("coverage-summary").hidden = false;
      $("coverage-summary").textContent = `PNG export failed: ${error.message}`;
    }
  }

  // ---- live updates ---------------------------------------------------------

  function listen() {
    if (!("EventSource" in window)) {
      $("connection").textContent = "no live updates in this browser";
      return;
    }
    const events = new EventSource("api/events");
    let lost = false;
    events.addEventListener("open", () => {
      $("connection").textContent = "live";
      $("connection").className = "connection live";
      if (lost) { lost = false; loadView(); }  // missed events while away
    });
    events.addEventListener("error", () => {
      lost = true;
      $("connection").textContent = "reconnecting…";
      $("connection").className = "connection lost";
    });
    events.addEventListener("file", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      markFile(data.id, data.stale);
      if (data.id === state.fileId && (!state.view || data.version !== state.view.version
          || Boolean(data.stale) !== Boolean(state.view.stale))) {
        loadView();
      }
    });
  }

  // ---- wiring ---------------------------------------------------------------

  function flash(key) {
    const button = document.querySelector(`#keypad button[data-key="${CSS.escape(key)}"]`);
    if (!button) return;
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 150);
  }

  function typing(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function wire() {
    $("files").addEventListener("click", (event) => {
      const button = event.target.closest("button.file");
      if (button) selectFile(button.dataset.file);
    });
    $("diagram").addEventListener("click", (event) => {
      const node = event.target.closest("g.node");
      if (node && node.id.startsWith("node-")) selectNode(node.id.slice(5));
    });
    $("diagram").addEventListener("keydown", (event) => {
      const node = event.target.closest && event.target.closest("g.node");
      if (node && (event.key === "Enter" || event.key === " ") && node.id.startsWith("node-")) {
        event.preventDefault();
        selectNode(node.id.slice(5));
      }
    });
    $("coverage-toggle").addEventListener("click", toggleCoverage);
    $("zoom-toggle").addEventListener("click", () => { state.actualSize = !state.actualSize; applySize(); });
    $("export-svg").addEventListener("click", exportSvg);
    $("export-png").addEventListener("click", exportPng);
    $("call-form").addEventListener("submit", (event) => { event.preventDefault(); startCall(); });
    $("keypad").addEventListener("click", (event) => {
      const button = event.target.closest("button.key");
      if (button) send(button.dataset.key);
    });
    $("silence").addEventListener("click", () => send("silence"));
    $("hangup").addEventListener("click", () => { if (live(state.call)) send("hangup"); });
    $("answer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send(answerInput());
    });
    $("collect-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const digits = $("collect-digits").value.trim();
      if (!/^[0-9*#]+$/.test(digits)) { $("call-status").textContent = "Type digits 0–9, * or #."; return; }
      $("collect-digits").value = "";
      send(digits);
    });
    $("speak").addEventListener("change", () => { if (!$("speak").checked) stopSound(); });
    $("save-test").addEventListener("click", () => {
      const text = state.call && state.call.test;
      $("test-text").textContent = text || "Walk a call first: start a call and press some keys.";
      $("test-box").hidden = false;
      $("copy-status").textContent = "";
      $("test-text").focus();
    });
    $("copy-test").addEventListener("click", async () => {
      $("copy-status").textContent = (await copyText($("test-text").textContent))
        ? "Copied: paste it into the .ivr file." : "Select the text and copy it.";
    });
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || typing(event.target)) return;
      if (/^[0-9*#]$/.test(event.key)) {
        event.preventDefault();
        flash(event.key);
        send(event.key);
      }
    });
  }

  function start() {
    wire();
    const fromHash = decodeURIComponent(location.hash.slice(1));
    const first = state.files.find((file) => file.id === fromHash) || state.files[0];
    if (!first) {
      $("diagram").replaceChildren(el("p", { className: "empty" }, "No files: give ivrflow studio some .ivr files."));
      return;
    }
    selectFile(first.id);
    listen();
  }

  // For tests and the curious: the page's state and the PNG export.
  window.studio = { state, pngBlob, loadView, startCall, send };

  start();
})();
