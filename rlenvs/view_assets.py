"""The stylesheet and script of the transcript viewer page (``rlenvs.view``).

The script reads the page's embedded JSON (``<script type="application/json">``) and builds one
``<details class="transcript">`` per transcript with ``textContent`` only -- never ``innerHTML``
-- so transcript text (untrusted: the policy wrote it) is shown, never run. The page's
Content-Security-Policy allows this script alone (by its hash).
"""

from __future__ import annotations

__all__ = ["CSS", "SCRIPT"]

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em;
       color: #1b1f24; background: #fafafa; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #d0d7de; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #57606a; }
.controls { position: sticky; top: 0; background: #fafafa; padding: .4em 0; z-index: 1; }
.transcript { border: 1px solid #d0d7de; border-left: 6px solid #cf222e; margin: .4em 0;
              background: #fff; border-radius: 4px; }
.transcript.pass { border-left-color: #1a7f37; }
.transcript > summary { cursor: pointer; padding: .3em .6em; }
.transcript .body { padding: 0 .8em .8em; }
.badge { font-weight: 600; padding: 0 .4em; border-radius: 3px; color: #fff;
         background: #cf222e; }
.pass .badge { background: #1a7f37; }
.transcript.unscored { border-left-color: #8c959f; } .unscored .badge { background: #6e7781; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: .4em .8em;
           border-radius: 4px; }
.msg { margin: .4em 0; border: 1px solid #eaeef2; border-radius: 4px; }
.msg .role { font-size: .8em; font-weight: 600; padding: 1px 6px; background: #eaeef2; }
.msg pre { margin: 0; padding: 6px; white-space: pre-wrap; word-break: break-word;
           font: 13px/1.4 ui-monospace, monospace; }
.role-system .role { background: #ddf4ff; } .role-tool .role { background: #fff8c5; }
.role-assistant .role { background: #dafbe1; }
.toolcall { background: #fff1c2; outline: 1px solid #d4a72c; border-radius: 2px; }
.step { border-radius: 2px; }
.errors { color: #cf222e; }
svg.hist rect { fill: #0969da; } svg.hist text { font-size: 10px; fill: #57606a; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("rlenvs-data").textContent);
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(x) { return typeof x === "number" ? x.toFixed(3) : String(x); }
  function kvTable(obj, cls) {
    const table = el("table", {class: cls});
    for (const [k, v] of Object.entries(obj || {})) {
      const tr = el("tr");
      tr.append(el("td", {}, k), el("td", {class: "num"}, fmt(v)));
      table.append(tr);
    }
    return table;
  }
  function stepColor(score) {
    const hue = Math.round(120 * Math.max(0, Math.min(1, Number(score) || 0)));
    return "hsla(" + hue + ", 70%, 60%, 0.35)";
  }
  // Pieces of a reply: plain text, tool calls (highlighted), or process-reward steps.
  function highlightCalls(pre, text, toolNames) {
    const tags = toolNames.map(n => n.replace(/[^A-Za-z0-9_]/g, "")).filter(Boolean);
    const alt = tags.length ? "|<(" + tags.join("|") + ")>[\\s\\S]*?</\\1>" : "";
    const re = new RegExp("<tool_call>[\\s\\S]*?</tool_call>" + alt, "g");
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      pre.append(document.createTextNode(text.slice(last, m.index)));
      pre.append(el("span", {class: "toolcall", title: "tool call"}, m[0]));
      last = m.index + m[0].length;
    }
    pre.append(document.createTextNode(text.slice(last)));
  }
  function highlightSteps(pre, text, spans, steps) {
    let last = 0;
    spans.forEach(function (span, k) {
      const start = Math.max(last, Number(span[0]) || 0), end = Math.min(text.length, span[1]);
      if (end <= start) return;
      pre.append(document.createTextNode(text.slice(last, start)));
      const node = el("span", {class: "step", "data-step": k,
                               title: "step " + (k + 1) + ": " + fmt(steps[k])},
                      text.slice(start, end));
      node.style.background = stepColor(steps[k]);
      pre.append(node);
      last = end;
    });
    pre.append(document.createTextNode(text.slice(last)));
  }
  function transcript(rec) {
    const verdict = rec.verdict || {};
    const passed = rec.passed === true;
    // a fault (the judge could not judge, a deadline) is neither a pass nor a failure
    const unscored = rec.status === "unscored" || verdict.status === "unscored";
    const state = unscored ? "unscored" : (passed ? "passed" : "failed");
    const box = el("details", {class: "transcript " + (unscored ? "unscored" : passed ? "pass"
                                                       : "fail"), "data-state": state,
                               "data-passed": passed});
    const head = el("summary");
    head.append(el("span", {class: "badge"}, unscored ? "UNSCORED" + (rec.cause || verdict.cause
                                               ? " (" + (rec.cause || verdict.cause) + ")" : "")
                                               : passed ? "PASS" : "FAIL"),
                document.createTextNode(" episode " + rec.episode + " · sample " + rec.sample +
                  " · seed " + rec.seed + " · return " + fmt(rec["return"]) + " · "),
                el("span", {class: "reason"}, verdict.reason || ""));
    box.append(head);
    const body = el("div", {class: "body"});
    body.append(el("h4", {}, "reward components"), kvTable(rec.reward_components, "components"));
    const calls = rec.tool_calls || [];
    const names = ["python", "search", "calculator"];
    calls.forEach(c => { if (c && typeof c.name === "string") names.push(c.name); });
    const messages = rec.messages || [];
    let lastAssistant = -1;
    messages.forEach((m, i) => { if (m && m.role === "assistant") lastAssistant = i; });
    const spans = (verdict.details && verdict.details.spans) || [];
    const steps = verdict.steps || [];
    const msgs = el("div", {class: "messages"});
    messages.forEach(function (m, i) {
      const role = String((m && m.role) || "?");
      const box = el("div", {class: "msg role-" + role.replace(/[^a-z]/g, "")});
      box.append(el("div", {class: "role"}, role));
      const pre = el("pre");
      const text = typeof m.content === "string" ? m.content : JSON.stringify(m.content);
      if (i === lastAssistant && steps.length && spans.length === steps.length)
        highlightSteps(pre, text, spans, steps);
      else if (role === "assistant") highlightCalls(pre, text, names);
      else pre.textContent = text;
      box.append(pre);
      msgs.append(box);
    });
    body.append(el("h4", {}, "transcript"), msgs);
    if (steps.length) {
      body.append(el("h4", {}, "process reward (" + steps.length + " steps)"));
      const ol = el("ol", {class: "steps"});
      steps.forEach((s, k) => { const li = el("li", {}, fmt(s)); li.style.background =
        stepColor(s); ol.append(li); });
      body.append(ol);
    }
    if (calls.length) {
      body.append(el("h4", {}, "tool calls (" + calls.length + ")"));
      const table = el("table", {class: "toolcalls"});
      const hdr = el("tr");
      ["turn", "tool", "arguments", "status", "result / error"].forEach(h =>
        hdr.append(el("th", {}, h)));
      table.append(hdr);
      calls.forEach(function (c) {
        const tr = el("tr", {class: "toolcall-row"});
        tr.append(el("td", {}, c.turn ?? ""), el("td", {}, c.name ?? ""),
                  el("td", {}, JSON.stringify(c.arguments ?? null)), el("td", {}, c.status ?? ""),
                  el("td", {}, c.error ? c.error : (c.result ?? "")));
        table.append(tr);
      });
      body.append(table);
    }
    const errors = rec.tool_call_errors || [];
    if (errors.length) {
      body.append(el("h4", {}, "tool-call errors"));
      const ul = el("ul", {class: "errors"});
      errors.forEach(e => ul.append(el("li", {}, typeof e === "string" ? e : JSON.stringify(e))));
      body.append(ul);
    }
    body.append(el("p", {class: "meta"}, "finish reasons: " +
      JSON.stringify(rec.finish_reasons || []) + " · completion tokens: " +
      JSON.stringify(rec.completion_tokens || [])));
    const more = el("details");
    more.append(el("summary", {}, "verdict details and task"),
                el("pre", {}, JSON.stringify({verdict: verdict, task: rec.task}, null, 2)));
    body.append(more);
    box.append(body);
    texts.set(box, messages.map(m => String(m && m.content)).join("\n").toLowerCase());
    return box;
  }
  const all = [], texts = new WeakMap();
  data.envs.forEach(function (env, i) {
    const holder = document.getElementById("transcripts-" + i);
    env.records.forEach(function (rec) { const node = transcript(rec); holder.append(node);
                                         all.push(node); });
  });
  const filter = document.getElementById("filter"), search = document.getElementById("search");
  const shown = document.getElementById("shown-count");
  function apply() {
    const want = filter.value, needle = search.value.toLowerCase();
    let n = 0;
    all.forEach(function (node) {
      const okPass = want === "all" || want === node.dataset.state;
      const ok = okPass && (!needle || texts.get(node).includes(needle));
      node.hidden = !ok;
      if (ok) n += 1;
    });
    shown.textContent = n + " of " + all.length + " transcripts shown";
  }
  const expand = document.getElementById("expand");
  function setOpen(open) { all.forEach(node => { node.open = open; }); }
  expand.addEventListener("change", () => setOpen(expand.checked));
  if (location.hash === "#expand") { expand.checked = true; setOpen(true); }
  filter.addEventListener("change", apply);
  search.addEventListener("input", apply);
  apply();
  document.body.dataset.rendered = String(all.length);
})();
"""
