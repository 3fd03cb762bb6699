// SLM Bench leaderboard: sort, search, filter, pick columns, pin rows, select for comparison.
// Data: window.SLMB_BOARD (assets/slmb/board.js, written by evals/site).
// Every cell is built with textContent / attributes, never innerHTML, so a
// submitted string (a model name, a repo) can only ever show as text.
// The view (search, filters, sort, columns, score scale, pins, preset, test models)
// lives in the page address so it can be shared.
(function () {
  "use strict";
  var root = document.getElementById("slmb-board");
  var data = window.SLMB_BOARD;
  if (!root || !data) return;

  var MISSING = "\u2014";
  // Rows drawn at once: sorting, search and filters see every row, but laying out
  // thousands of rows costs the browser far more than this script; "Show all" draws the rest.
  var LIMIT = 200;
  var EDGE_MAX_PARAMETERS = 3e9; // "for edge devices": GGUF quantizations at or under 3B
  var KEYS = ["q", "cat", "quant", "size", "backend", "scale", "sort", "dir", "cols", "view", "tests"];
  // The address names the search "search": mkdocs-material opens its own search box on "?q=".
  var PARAMS = { q: "search" };
  function param(k) { return PARAMS[k] || k; }
  var SELECTS = ["cat", "quant", "size", "backend", "scale"];
  var base = root.getAttribute("data-root") || "";
  var table = document.getElementById("slmb-table");
  var tbody = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var columns = headers.map(function (th) {
    return {
      key: th.dataset.key, type: th.dataset.type, format: th.dataset.format, group: th.dataset.group,
      shown: th.dataset.shown === "1", normalized: th.dataset.normalized, th: th
    };
  });
  var byKey = {};
  columns.forEach(function (c) { byKey[c.key] = c; });
  var optional = columns.filter(function (c) { return c.group; });
  var defaultCols = optional.filter(function (c) { return c.shown; }).map(function (c) { return c.key; });
  var inputs = {
    q: document.getElementById("slmb-q"),
    cat: document.getElementById("slmb-cat"),
    quant: document.getElementById("slmb-quant"),
    size: document.getElementById("slmb-size"),
    backend: document.getElementById("slmb-backend"),
    scale: document.getElementById("slmb-scale")
  };
  var count = document.getElementById("slmb-count");
  var more = document.getElementById("slmb-more");
  var compareButton = document.getElementById("slmb-compare");
  var edgeButton = document.getElementById("slmb-edge");
  var testsBox = document.getElementById("slmb-tests");
  var testsLabel = document.getElementById("slmb-tests-label");
  var testsCount = document.getElementById("slmb-tests-count");
  var pickerBoxes = Array.prototype.slice.call(root.querySelectorAll("#slmb-picker input[data-col]"));
  var state = {};
  var visibleCols = new Set(defaultCols);
  var pinned = new Set();
  var showAll = false;
  var selected = new Set();

  var rows = data.rows.map(function (values) {
    var row = {};
    data.fields.forEach(function (field, i) { row[field] = values[i]; });
    row.text = [row.model, row.variant, row.precision, row.backend].join(" ").toLowerCase();
    return row;
  });
  var testRows = rows.filter(function (r) { return r.test_model; }).length;

  function missing(v) { return v === null || v === undefined || (typeof v === "number" && !isFinite(v)); }

  function format(v, kind) {
    if (missing(v)) return MISSING;
    var digits = data.formats[kind];
    return kind === "coverage" ? (100 * v).toFixed(digits) + "%" : Number(v).toFixed(digits);
  }

  function allowed(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }

  function normalized() { return state.scale === "normalized"; }
  // Test models are hidden unless asked for; a board of test models only (the demo) shows them,
  // marked, rather than an empty table.
  function showTests() { return state.tests === "show" || (state.tests === "" && testRows === rows.length); }
  function edgeView() { return state.view === "edge"; }

  // The field a column shows: the normalized score when the reader asked for those.
  function field(col) { return normalized() && col.normalized ? col.normalized : col.key; }

  function isVisible(col) {
    if (!col.group) return true;
    if (edgeView() && (col.group === "edge" || col.key === "score_edge")) return true;
    return visibleCols.has(col.key);
  }

  function readAddress() {
    var params = new URLSearchParams(window.location.search);
    KEYS.forEach(function (k) { state[k] = params.get(param(k)) || ""; });
    SELECTS.forEach(function (k) {
      if (!inputs[k] || !allowed(inputs[k], state[k])) state[k] = "";
    });
    if (state.sort && (!byKey[state.sort] || byKey[state.sort].type === "none")) state.sort = "";
    if (state.dir !== "asc" && state.dir !== "desc") state.dir = "";
    if (state.view !== "edge" || !edgeButton) state.view = "";
    if (state.tests !== "show" && state.tests !== "hide") state.tests = "";
    visibleCols = state.cols
      ? new Set(state.cols.split(",").filter(function (k) { return byKey[k] && byKey[k].group; }))
      : new Set(defaultCols);
    var ids = new Set(rows.map(function (r) { return r.variant; }));
    pinned = new Set(params.getAll("pin").filter(function (id) { return ids.has(id); }));
    Object.keys(inputs).forEach(function (k) { if (inputs[k]) inputs[k].value = state[k]; });
  }

  function writeAddress() {
    var chosen = optional.filter(function (c) { return visibleCols.has(c.key); }).map(function (c) { return c.key; });
    state.cols = chosen.join(",") === defaultCols.join(",") ? "" : chosen.join(",") || "none";
    var params = new URLSearchParams();
    KEYS.forEach(function (k) { if (state[k]) params.set(param(k), state[k]); });
    pinned.forEach(function (id) { params.append("pin", id); });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  function sortKey() {
    if (state.sort) return state.sort;
    if (state.cat) return "score_" + state.cat;
    return edgeView() ? "score_edge" : "rank";
  }

  function sortDir(key) {
    if (state.dir) return state.dir;
    var col = byKey[key];
    return key === "rank" || key === "latency_ms" || key === "peak_memory_gb" || (col && col.type === "text") ? "asc" : "desc";
  }

  function sortValue(row, key) {
    if (key === "model") return row.model.toLowerCase();
    return row[byKey[key] ? field(byKey[key]) : key];
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

  function matches(r) {
    var q = state.q.trim().toLowerCase();
    var cat = state.cat ? "score_" + state.cat : "";
    return (!q || r.text.indexOf(q) !== -1) &&
      (!cat || !missing(r[cat])) &&
      (!state.quant || r.precision === state.quant) &&
      (!state.size || r.bucket === state.size) &&
      (!state.backend || r.backend === state.backend) &&
      (showTests() || !r.test_model) &&
      (!edgeView() || (r.gguf_quant && !missing(r.parameters) && r.parameters <= EDGE_MAX_PARAMETERS));
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
    var value = row[field(col)];
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
    } else if (key === "pin") {
      var on = pinned.has(row.variant);
      var pin = text("button", on ? "\u2605" : "\u2606", "slmb-pin");
      pin.type = "button";
      pin.setAttribute("aria-pressed", on ? "true" : "false");
      pin.setAttribute("aria-label", (on ? "Unpin " : "Pin ") + row.model + " " + row.precision);
      pin.title = on ? "Unpin this row" : "Pin this row to the top";
      pin.addEventListener("click", function () {
        if (pinned.has(row.variant)) pinned.delete(row.variant); else pinned.add(row.variant);
        update();
      });
      td.appendChild(pin);
    } else if (key === "model") {
      var link = text("a", row.model);
      link.href = base + "models/" + encodeURIComponent(row.slug) + "/";
      td.appendChild(link);
      if (row.test_model) td.appendChild(text("span", "test", "slmb-badge slmb-test"));
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
      td.appendChild(text("strong", format(value, "score")));
      if (!normalized()) {
        td.appendChild(text("span", "[" + format(row.ci_low, "score") + ", " + format(row.ci_high, "score") + "]", "slmb-ci"));
      }
    } else if (key === "coverage") {
      td.appendChild(row.partial ? text("span", "partial " + format(row.coverage, "coverage"), "slmb-badge partial")
        : text("span", "full", "slmb-badge full"));
    } else if (key === "rank") {
      // "3 (2\u20135)": the ranks the paired tests allow (evals/scoring.py rule 8)
      td.appendChild(text("span", String(row.rank)));
      if (!missing(row.rank_lo) && !missing(row.rank_hi)) {
        var range = row.rank_lo === row.rank_hi ? String(row.rank_lo) : row.rank_lo + "\u2013" + row.rank_hi;
        td.appendChild(text("span", " (" + range + ")", "slmb-range"));
        td.title = "the paired tests allow ranks " + range + ": significantly behind " + (row.rank_lo - 1) +
          " rows, tied with the rest of that range (Holm's step-down, 5%)";
      }
    } else if (col.type === "num") {
      td.textContent = format(value, col.format);
    } else {
      td.textContent = missing(value) ? MISSING : value;
    }
    if (col.type === "num") td.className = (td.className ? td.className + " " : "") + "num";
    if (state.cat && key === "score_" + state.cat) td.classList.add("slmb-focus");
    return td;
  }

  function emptyRow(shownCols, hiddenTests) {
    var tr = document.createElement("tr");
    var td = document.createElement("td");
    td.colSpan = shownCols.length;
    td.className = "slmb-empty";
    td.appendChild(text("span", "No variant matches this view. "));
    if (hiddenTests) {
      var show = text("button", "Show the " + hiddenTests + " test-model variant" + (hiddenTests === 1 ? "" : "s"), "md-button");
      show.type = "button";
      show.addEventListener("click", function () { state.tests = "show"; testsBox.checked = true; update(); });
      td.appendChild(show);
    }
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var key = sortKey(), dir = sortDir(key);
    var order = compareRows(key, dir);
    // Pinned rows stay on top, in the current order, whatever the filters say.
    var top = rows.filter(function (r) { return pinned.has(r.variant); }).sort(order);
    var rest = rows.filter(function (r) { return !pinned.has(r.variant) && matches(r); }).sort(order);
    var list = top.concat(rest);
    var shown = showAll ? list : list.slice(0, LIMIT);
    var shownCols = columns.filter(isVisible);
    var hiddenTests = showTests() ? 0 : rows.filter(function (r) {
      return r.test_model && !pinned.has(r.variant) && matches(Object.assign({}, r, { test_model: false }));
    }).length;
    var fragment = document.createDocumentFragment();
    shown.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset.variant = row.variant;
      if (row.partial) tr.classList.add("slmb-partial");
      if (pinned.has(row.variant)) tr.classList.add("slmb-pinned");
      shownCols.forEach(function (col) { tr.appendChild(cell(row, col)); });
      fragment.appendChild(tr);
    });
    if (!shown.length) fragment.appendChild(emptyRow(shownCols, hiddenTests));
    tbody.replaceChildren(fragment);
    columns.forEach(function (col) {
      col.th.hidden = !isVisible(col);
      if (col.type === "none") return;
      col.th.setAttribute("aria-sort", col.key === key ? (dir === "asc" ? "ascending" : "descending") : "none");
      col.th.classList.toggle("slmb-focus", !!state.cat && col.key === "score_" + state.cat);
    });
    pickerBoxes.forEach(function (box) {
      box.checked = isVisible(byKey[box.dataset.col]);
      box.disabled = edgeView() && (byKey[box.dataset.col].group === "edge" || box.dataset.col === "score_edge");
    });
    if (edgeButton) {
      edgeButton.setAttribute("aria-pressed", edgeView() ? "true" : "false");
      edgeButton.classList.toggle("md-button--primary", edgeView());
    }
    testsLabel.hidden = testRows === 0;
    testsCount.textContent = testRows;
    testsBox.checked = showTests();
    table.classList.toggle("slmb-normalized", normalized());
    count.textContent = "Showing " + shown.length.toLocaleString("en-US") + " of " + list.length.toLocaleString("en-US") +
      " variants" + (list.length !== rows.length ? " (" + rows.length.toLocaleString("en-US") + " in all)" : "") +
      (pinned.size ? " \u00b7 " + pinned.size + " pinned" : "") +
      (hiddenTests ? " \u00b7 " + hiddenTests + " test-model variant" + (hiddenTests === 1 ? "" : "s") + " hidden" : "") +
      (edgeView() ? " \u00b7 for edge devices: GGUF quantizations of at most 3B parameters, by edge score" : "") +
      (normalized() ? " \u00b7 scores baseline-normalized (0 = random guessing)" : "");
    more.hidden = shown.length === list.length;
    more.textContent = "Show all " + list.length.toLocaleString("en-US");
  }

  function update() { writeAddress(); render(); }

  var pending = null;
  inputs.q.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { state.q = inputs.q.value; update(); }, 80);
  });
  SELECTS.forEach(function (k) {
    if (!inputs[k]) return;
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
  pickerBoxes.forEach(function (box) {
    box.addEventListener("change", function () {
      if (box.checked) visibleCols.add(box.dataset.col); else visibleCols.delete(box.dataset.col);
      update();
    });
  });
  Array.prototype.forEach.call(root.querySelectorAll("#slmb-picker button[data-all], #slmb-picker button[data-none]"), function (b) {
    b.addEventListener("click", function () {
      var group = b.dataset.all || b.dataset.none;
      optional.forEach(function (c) {
        if (c.group !== group) return;
        if (b.dataset.all) visibleCols.add(c.key); else visibleCols.delete(c.key);
      });
      update();
    });
  });
  var picker = document.getElementById("slmb-picker");
  var pickerButton = document.getElementById("slmb-columns");
  var pickerBody = document.getElementById("slmb-picker-body");
  function openPicker(open) {
    pickerBody.hidden = !open;
    pickerButton.setAttribute("aria-expanded", open ? "true" : "false");
    pickerButton.classList.toggle("md-button--primary", open);
  }
  pickerButton.addEventListener("click", function () { openPicker(pickerBody.hidden); });
  document.addEventListener("click", function (e) { if (!picker.contains(e.target)) openPicker(false); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") openPicker(false); });
  if (edgeButton) {
    edgeButton.addEventListener("click", function () {
      state.view = edgeView() ? "" : "edge";
      if (state.view) { state.sort = ""; state.dir = ""; state.cat = ""; inputs.cat.value = ""; }
      update();
    });
  }
  testsBox.addEventListener("change", function () { state.tests = testsBox.checked ? "show" : "hide"; update(); });
  document.getElementById("slmb-reset").addEventListener("click", function () {
    KEYS.forEach(function (k) { state[k] = ""; });
    Object.keys(inputs).forEach(function (k) { if (inputs[k]) inputs[k].value = ""; });
    visibleCols = new Set(defaultCols);
    pinned = new Set();
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
