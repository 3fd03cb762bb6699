// SLM Bench compare page: two or more models side by side.
// The chosen models are the page address's repeated ?m= parameters, so a
// comparison can be shared. Cells are built with textContent, never innerHTML.
(function () {
  "use strict";
  var root = document.getElementById("slmb-compare");
  var data = window.SLMB_BOARD;
  if (!root || !data) return;

  var MISSING = "\u2014";
  var base = root.getAttribute("data-root") || "";
  var pick = document.getElementById("slmb-pick");
  var list = document.getElementById("slmb-models");
  var chips = document.getElementById("slmb-chosen");
  var table = document.getElementById("slmb-compare-table");

  var byModel = new Map();
  data.rows.forEach(function (values) {
    var row = {};
    data.fields.forEach(function (field, i) { row[field] = values[i]; });
    if (!byModel.has(row.model)) byModel.set(row.model, []);
    byModel.get(row.model).push(row); // rows arrive in rank order
  });

  // [label, value(row), format kind or null, better: "high" | "low" | null]
  var metrics = [
    ["Parameters", function (r) { return r.parameters; }, "params", null],
    ["Backend", function (r) { return r.backend; }, null, null],
    ["Rank", function (r) { return r.rank; }, "int", "low"],
    ["Aggregate", function (r) { return r.aggregate; }, "score", "high"],
    ["95% interval", function (r) { return [r.ci_low, r.ci_high]; }, "interval", null],
    ["Normalized aggregate", function (r) { return r.aggregate_normalized; }, "score", "high"],
    ["Coverage", function (r) { return r.coverage; }, "coverage", "high"]
  ];
  data.categories.forEach(function (c) {
    metrics.push([c.title, function (r) { return r["score_" + c.key]; }, "score", "high"]);
  });
  metrics.push(["Tokens/s", function (r) { return r.tokens_per_s; }, "tokens_per_s", "high"]);
  metrics.push(["Latency ms", function (r) { return r.latency_ms; }, "latency_ms", "low"]);
  metrics.push(["Memory GB", function (r) { return r.peak_memory_gb; }, "peak_memory_gb", "low"]);

  function missing(v) { return v === null || v === undefined || (typeof v === "number" && !isFinite(v)); }

  function format(v, kind, row) {
    if (kind === "interval") {
      return missing(v[0]) ? MISSING : "[" + format(v[0], "score") + ", " + format(v[1], "score") + "]";
    }
    if (missing(v)) return MISSING;
    if (kind === "params") return row.params_label || MISSING;
    if (kind === "int") return String(v);
    if (kind === null) return String(v);
    var digits = data.formats[kind];
    return kind === "coverage" ? (100 * v).toFixed(digits) + "%" : Number(v).toFixed(digits);
  }

  function chosen() {
    var seen = new Set();
    return new URLSearchParams(window.location.search).getAll("m").filter(function (name) {
      if (!byModel.has(name) || seen.has(name)) return false;
      seen.add(name);
      return true;
    });
  }

  function setChosen(names) {
    var params = new URLSearchParams();
    names.forEach(function (n) { params.append("m", n); });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    render();
  }

  function el(tag, textValue, className) {
    var node = document.createElement(tag);
    if (textValue !== undefined) node.textContent = textValue;
    if (className) node.className = className;
    return node;
  }

  function render() {
    var names = chosen();
    chips.replaceChildren();
    names.forEach(function (name) {
      var chip = el("span", name, "slmb-chip");
      var remove = el("button", "\u00d7");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + name);
      remove.addEventListener("click", function () {
        setChosen(chosen().filter(function (n) { return n !== name; }));
      });
      chip.appendChild(remove);
      chips.appendChild(chip);
    });
    if (names.length < 2) chips.appendChild(el("span", names.length ? " Add one more model." : "Add at least two models.", "slmb-hint"));

    var variants = [];
    names.forEach(function (name) { byModel.get(name).forEach(function (r) { variants.push(r); }); });
    table.replaceChildren();
    if (!variants.length) return;
    var head = el("thead"), tr = el("tr");
    tr.appendChild(el("th", ""));
    variants.forEach(function (r) {
      var th = el("th");
      th.scope = "col";
      var link = el("a", r.model);
      link.href = base + "models/" + encodeURIComponent(r.slug) + "/";
      th.appendChild(link);
      th.appendChild(el("span", r.precision, "slmb-ci"));
      tr.appendChild(th);
    });
    head.appendChild(tr);
    var body = el("tbody");
    metrics.forEach(function (m) {
      var row = el("tr");
      var th = el("th", m[0]);
      th.scope = "row";
      row.appendChild(th);
      var values = variants.map(function (r) { return m[1](r); });
      var best = null;
      if (m[3] && variants.length > 1) {
        values.forEach(function (v) {
          if (missing(v)) return;
          if (best === null || (m[3] === "high" ? v > best : v < best)) best = v;
        });
      }
      values.forEach(function (v, i) {
        var td = el("td", format(v, m[2], variants[i]), "num");
        if (best !== null && v === best) td.classList.add("slmb-best");
        row.appendChild(td);
      });
      body.appendChild(row);
    });
    table.appendChild(head);
    table.appendChild(body);
  }

  var names = Array.from(byModel.keys());
  var fragment = document.createDocumentFragment();
  names.forEach(function (name) {
    var option = document.createElement("option");
    option.value = name;
    fragment.appendChild(option);
  });
  list.appendChild(fragment);

  function add() {
    var name = pick.value.trim();
    pick.setCustomValidity("");
    if (!byModel.has(name)) {
      pick.setCustomValidity("No model with that name in this leaderboard");
      pick.reportValidity();
      return;
    }
    var current = chosen();
    if (current.indexOf(name) === -1) current.push(name);
    pick.value = "";
    setChosen(current);
  }
  document.getElementById("slmb-add").addEventListener("click", add);
  pick.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); add(); } });
  document.getElementById("slmb-clear").addEventListener("click", function () { setChosen([]); });

  render();
  table.setAttribute("data-ready", "true");
  if (window.performance && performance.mark) performance.mark("slmb-ready");
})();
