// SLM Bench leaderboard: sort, search, filter, select for comparison.
// Data: window.SLMB_BOARD (assets/slmb/board.js, written by evals/sitegen).
// Every cell is built with textContent / attributes, never innerHTML, so a
// submitted string (a model name, a repo) can only ever show as text.
// The view (search, filters, sort) lives in the page address so it can be shared.
(function () {
  "use strict";
  var root = document.getElementById("slmb-board");
  var data = window.SLMB_BOARD;
  if (!root || !data) return;

  var MISSING = "\u2014";
  // Rows drawn at once: sorting, search and filters see every row, but laying out
  // thousands of rows costs the browser far more than this script; "Show all" draws the rest.
  var LIMIT = 200;
  var KEYS = ["q", "cat", "quant", "size", "backend", "sort", "dir"];
  var base = root.getAttribute("data-root") || "";
  var table = document.getElementById("slmb-table");
  var tbody = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var columns = headers.map(function (th) {
    return { key: th.dataset.key, type: th.dataset.type, format: th.dataset.format, th: th };
  });
  var byKey = {};
  columns.forEach(function (c) { byKey[c.key] = c; });
  var inputs = {
    q: document.getElementById("slmb-q"),
    cat: document.getElementById("slmb-cat"),
    quant: document.getElementById("slmb-quant"),
    size: document.getElementById("slmb-size"),
    backend: document.getElementById("slmb-backend")
  };
  var count = document.getElementById("slmb-count");
  var more = document.getElementById("slmb-more");
  var compareButton = document.getElementById("slmb-compare");
  var state = {};
  var showAll = false;
  var selected = new Set();

  var rows = data.rows.map(function (values) {
    var row = {};
    data.fields.forEach(function (field, i) { row[field] = values[i]; });
    row.text = [row.model, row.variant, row.precision, row.backend].join(" ").toLowerCase();
    return row;
  });

  function missing(v) { return v === null || v === undefined || (typeof v === "number" && !isFinite(v)); }

  function format(v, kind) {
    if (missing(v)) return MISSING;
    var digits = data.formats[kind];
    return kind === "coverage" ? (100 * v).toFixed(digits) + "%" : Number(v).toFixed(digits);
  }

  function allowed(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }

  function readAddress() {
    var params = new URLSearchParams(window.location.search);
    KEYS.forEach(function (k) { state[k] = params.get(k) || ""; });
    ["cat", "quant", "size", "backend"].forEach(function (k) {
      if (!allowed(inputs[k], state[k])) state[k] = "";
    });
    if (state.sort && (!byKey[state.sort] || byKey[state.sort].type === "none")) state.sort = "";
    if (state.dir !== "asc" && state.dir !== "desc") state.dir = "";
    Object.keys(inputs).forEach(function (k) { inputs[k].value = state[k]; });
  }

  function writeAddress() {
    var params = new URLSearchParams();
    KEYS.forEach(function (k) { if (state[k]) params.set(k, state[k]); });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  function sortKey() { return state.sort || (state.cat ? "score_" + state.cat : "rank"); }

  function sortDir(key) {
    if (state.dir) return state.dir;
    var col = byKey[key];
    return key === "rank" || key === "latency_ms" || key === "peak_memory_gb" || (col && col.type === "text") ? "asc" : "desc";
  }

  function sortValue(row, key) {
    if (key === "model") return row.model.toLowerCase();
    return row[key];
  }

  function compareRows(key, dir) {
    var sign = dir === "asc" ? 1 : -1;
    return function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      var mx = missing(x), my = missing(y);
      if (mx || my) {
        if (mx && my) return a.rank - b.rank;
        return mx ? 1 : -1; // missing values last, whichever the direction
      }
      var order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return order !== 0 ? sign * order : a.rank - b.rank;
    };
  }

  function visible() {
    var q = state.q.trim().toLowerCase();
    var cat = state.cat ? "score_" + state.cat : "";
    return rows.filter(function (r) {
      return (!q || r.text.indexOf(q) !== -1) &&
        (!cat || !missing(r[cat])) &&
        (!state.quant || r.precision === state.quant) &&
        (!state.size || r.bucket === state.size) &&
        (!state.backend || r.backend === state.backend);
    });
  }

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) el.className = className;
    return el;
  }

  function cell(row, col) {
    var td = document.createElement("td");
    var key = col.key;
    if (key === "select") {
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = selected.has(row.model);
      box.setAttribute("aria-label", "Select " + row.model + " for comparison");
      box.addEventListener("change", function () {
        if (box.checked) selected.add(row.model); else selected.delete(row.model);
        compareButton.disabled = selected.size < 2;
        compareButton.textContent = "Compare selected (" + selected.size + ")";
      });
      td.appendChild(box);
    } else if (key === "model") {
      var link = text("a", row.model);
      link.href = base + "models/" + encodeURIComponent(row.slug) + "/";
      td.appendChild(link);
      if (row.source && /^https:\/\//.test(row.source)) {
        var src = text("a", "source", "slmb-src");
        src.href = row.source;
        src.rel = "nofollow noopener";
        td.appendChild(src);
      }
    } else if (key === "parameters") {
      td.textContent = missing(row.parameters) ? MISSING : row.params_label;
      if (!missing(row.parameters)) td.title = row.parameters.toLocaleString("en-US") + " parameters";
    } else if (key === "aggregate") {
      td.appendChild(text("strong", format(row.aggregate, "score")));
      td.appendChild(text("span", "[" + format(row.ci_low, "score") + ", " + format(row.ci_high, "score") + "]", "slmb-ci"));
    } else if (key === "coverage") {
      td.appendChild(row.partial ? text("span", "partial " + format(row.coverage, "coverage"), "slmb-badge partial")
        : text("span", "full", "slmb-badge full"));
    } else if (key === "rank") {
      td.textContent = row.rank;
      td.title = "rank band " + row.rank_band + " (rows in one band are statistically tied)";
    } else if (col.type === "num") {
      td.textContent = format(row[key], col.format);
    } else {
      td.textContent = missing(row[key]) ? MISSING : row[key];
    }
    if (col.type === "num") td.className = (td.className ? td.className + " " : "") + "num";
    if (state.cat && key === "score_" + state.cat) td.classList.add("slmb-focus");
    return td;
  }

  function render() {
    var key = sortKey(), dir = sortDir(key);
    var list = visible().sort(compareRows(key, dir));
    var shown = showAll ? list : list.slice(0, LIMIT);
    var fragment = document.createDocumentFragment();
    shown.forEach(function (row) {
      var tr = document.createElement("tr");
      if (row.partial) tr.className = "slmb-partial";
      columns.forEach(function (col) { tr.appendChild(cell(row, col)); });
      fragment.appendChild(tr);
    });
    tbody.replaceChildren(fragment);
    columns.forEach(function (col) {
      if (col.type === "none") return;
      col.th.setAttribute("aria-sort", col.key === key ? (dir === "asc" ? "ascending" : "descending") : "none");
      col.th.classList.toggle("slmb-focus", !!state.cat && col.key === "score_" + state.cat);
    });
    count.textContent = "Showing " + shown.length.toLocaleString("en-US") + " of " + list.length.toLocaleString("en-US") +
      " variants" + (list.length !== rows.length ? " (" + rows.length.toLocaleString("en-US") + " in all)" : "");
    more.hidden = shown.length === list.length;
    more.textContent = "Show all " + list.length.toLocaleString("en-US");
  }

  function update() { writeAddress(); render(); }

  var pending = null;
  inputs.q.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { state.q = inputs.q.value; update(); }, 80);
  });
  ["cat", "quant", "size", "backend"].forEach(function (k) {
    inputs[k].addEventListener("change", function () { state[k] = inputs[k].value; update(); });
  });
  columns.forEach(function (col) {
    var button = col.th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", function () {
      var current = sortKey();
      if (current === col.key) {
        state.sort = col.key;
        state.dir = sortDir(current) === "asc" ? "desc" : "asc";
      } else {
        state.sort = col.key;
        state.dir = "";
        state.dir = sortDir(col.key);
      }
      update();
    });
  });
  document.getElementById("slmb-reset").addEventListener("click", function () {
    KEYS.forEach(function (k) { state[k] = ""; });
    Object.keys(inputs).forEach(function (k) { inputs[k].value = ""; });
    update();
  });
  more.addEventListener("click", function () { showAll = true; render(); });
  compareButton.addEventListener("click", function () {
    var params = new URLSearchParams();
    selected.forEach(function (name) { params.append("m", name); });
    window.location.href = base + "compare/?" + params.toString();
  });

  readAddress();
  render();
  // Ready once the first frame with the table is laid out and painted, not merely built.
  window.requestAnimationFrame(function () {
    window.setTimeout(function () {
      table.setAttribute("data-ready", "true");
      if (window.performance && performance.mark) performance.mark("slmb-ready");
    }, 0);
  });
})();
