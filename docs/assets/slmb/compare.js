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
    ["Rank", function (r) { return r.rank; }, "rank", "low"],
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
    if (kind === "rank") {
      // the range the paired tests allow (evals/scoring.py rule 8), as the board shows it
      if (missing(row.rank_lo) || missing(row.rank_hi)) return String(v);
      return v + " (" + (row.rank_lo === row.rank_hi ? row.rank_lo : row.rank_lo + "\u2013" + row.rank_hi) + ")";
    }
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
    renderPairs(variants);
  }

  // --- the paired comparison of two chosen variants (assets/slmb/pairs/<rank>.json, evals/site/pairs.py)

  var pairBox = document.getElementById("slmb-pair");
  var pairFiles = new Map();
  var pairState = {a: null, b: null};

  function pairFile(rank) {
    if (!pairFiles.has(rank)) {
      pairFiles.set(rank, fetch(base + "assets/slmb/pairs/" + rank + ".json").then(function (r) {
        if (!r.ok) throw new Error("no pair file for rank " + rank);
        return r.json();
      }));
    }
    return pairFiles.get(rank);
  }

  function label(r) { return r.model + " \u00b7 " + r.variant; }

  function num(v, digits) { return missing(v) ? MISSING : Number(v).toFixed(digits); }
  function signed(v) { return missing(v) ? MISSING : (v > 0 ? "+" : "") + Number(v).toFixed(1); }
  function pValue(p) { return missing(p) ? MISSING : p < 0.0001 ? "<0.0001" : Number(p).toPrecision(2); }

  function itemsLink(a, b, task, show, count) {
    if (missing(count)) return el("span", MISSING);
    var link = el("a", String(count));
    var query = "?task=" + encodeURIComponent(task) + "&a=" + encodeURIComponent(a.variant);
    if (a.model === b.model) {
      query += "&b=" + encodeURIComponent(b.variant) + "&show=" + show;
      link.title = "these items, side by side";
    } else {
      query += "&show=" + (show === "a-only" ? "right" : "wrong");
      link.title = "the items of " + label(a) + " (" + (show === "a-only" ? "right" : "wrong") +
        "); item-by-item compare is for two variants of one model";
    }
    link.href = base + "models/" + encodeURIComponent(a.slug) + "/" + query + "#items";
    return link;
  }

  function forest(rows) {
    // a small forest plot: one line per task (and the aggregate), the difference and its 95% interval
    var NS = "http://www.w3.org/2000/svg";
    var shown = rows.filter(function (r) { return !missing(r.lo) && !missing(r.hi); });
    if (!shown.length) return null;
    var lo = Math.min(0, Math.min.apply(null, shown.map(function (r) { return r.lo; })));
    var hi = Math.max(0, Math.max.apply(null, shown.map(function (r) { return r.hi; })));
    var pad = (hi - lo) * 0.05 || 1;
    lo -= pad; hi += pad;
    var W = 560, left = 170, right = 20, rowH = 22, top = 10, H = top + rowH * shown.length + 30;
    function x(v) { return left + (v - lo) / (hi - lo) * (W - left - right); }
    function node(tag, attrs, textValue) {
      var n = document.createElementNS(NS, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
      if (textValue !== undefined) n.textContent = textValue;
      return n;
    }
    var svg = node("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": "Forest plot of the paired differences", "class": "slmb-forest"});
    svg.appendChild(node("line", {x1: x(0), x2: x(0), y1: top - 4, y2: H - 24, stroke: "currentColor",
      "stroke-dasharray": "3 3", "stroke-opacity": "0.6"}));
    shown.forEach(function (r, i) {
      var y = top + rowH * i + rowH / 2;
      var g = node("g", {"data-task": r.task});
      g.appendChild(node("text", {x: left - 8, y: y + 4, "text-anchor": "end", "font-size": "12",
        "font-weight": r.task === "aggregate" ? "bold" : "normal", fill: "currentColor"}, r.task));
      g.appendChild(node("line", {x1: x(r.lo), x2: x(r.hi), y1: y, y2: y, stroke: "currentColor", "stroke-width": "2"}));
      var significant = !missing(r.p) && r.p < 0.05;
      g.appendChild(node("circle", {cx: x(r.d), cy: y, r: r.task === "aggregate" ? 5 : 4,
        fill: significant ? "currentColor" : "white", stroke: "currentColor", "stroke-width": "1.5"}));
      g.appendChild(node("title", {}, r.task + ": " + signed(r.d) + " [" + signed(r.lo) + ", " + signed(r.hi) + "], p = " + pValue(r.p)));
      svg.appendChild(g);
    });
    var axisY = H - 20;
    svg.appendChild(node("line", {x1: left, x2: W - right, y1: axisY, y2: axisY, stroke: "currentColor"}));
    [lo + pad, 0, hi - pad].forEach(function (v) {
      svg.appendChild(node("text", {x: x(v), y: axisY + 14, "text-anchor": "middle", "font-size": "11", fill: "currentColor"}, signed(v)));
    });
    return svg;
  }

  function renderPairs(variants) {
    if (!pairBox) return;
    pairBox.replaceChildren();
    if (variants.length < 2) return;
    var keys = variants.map(function (r) { return String(r.rank); });
    if (keys.indexOf(pairState.a) < 0) pairState.a = keys[0];
    if (keys.indexOf(pairState.b) < 0 || pairState.b === pairState.a) pairState.b = keys.filter(function (k) { return k !== pairState.a; })[0];
    var byRank = {};
    variants.forEach(function (r) { byRank[String(r.rank)] = r; });
    pairBox.appendChild(el("h2", "Paired comparison"));
    var form = el("p", undefined, "slmb-controls");
    ["a", "b"].forEach(function (side) {
      var select = el("select");
      select.id = "slmb-pair-" + side;
      select.setAttribute("aria-label", side === "a" ? "Variant A" : "Variant B");
      variants.forEach(function (r) {
        var o = el("option", label(r));
        o.value = String(r.rank);
        select.appendChild(o);
      });
      select.value = pairState[side];
      select.addEventListener("change", function () { pairState[side] = select.value; renderPairs(variants); });
      form.appendChild(el("span", side === "a" ? "A " : " minus B "));
      form.appendChild(select);
    });
    pairBox.appendChild(form);
    var a = byRank[pairState.a], b = byRank[pairState.b];
    var status = el("p", "Loading\u2026", "slmb-count");
    pairBox.appendChild(status);
    pairFile(pairState.a).then(function (file) {
      var pair = file.pairs[pairState.b];
      if (!pair) {
        status.textContent = "These two rows are too far apart on the board for a paired file (see evals/site/pairs.py).";
        return;
      }
      status.textContent = "A minus B, in points, on the items both answered: the interval is the paired 95% " +
        "interval (clustered where items share a passage), the p-value exact McNemar for right/wrong items, " +
        "a z-test otherwise. The aggregate weighs the tasks as the board does and includes the edge category " +
        "(measured speed, its error from the repeated measurements). Filled dots: significant at 5%.";
      var rows = [];
      Object.keys(pair.tasks).forEach(function (task) {
        var t = pair.tasks[task];
        rows.push({task: task, d: t[0], lo: t[1], hi: t[2], p: t[3], onlyA: t[4], onlyB: t[5], n: t[6], test: t[7]});
      });
      var agg = pair.aggregate;
      rows.push({task: "aggregate", d: agg[0], lo: agg[1], hi: agg[2], p: agg[3], onlyA: null, onlyB: null, n: null, test: "z"});
      var tbl = el("table", undefined, "slmb-table");
      tbl.id = "slmb-pair-table";
      var headRow = el("tr");
      ["Task", "A \u2212 B", "95% interval", "p", "Only A right", "Only B right", "Items", "Test"].forEach(function (h) {
        var th = el("th", h);
        th.scope = "col";
        headRow.appendChild(th);
      });
      var thead = el("thead");
      thead.appendChild(headRow);
      tbl.appendChild(thead);
      var tbody = el("tbody");
      rows.forEach(function (r) {
        var tr = el("tr");
        tr.setAttribute("data-task", r.task);
        var th = el("th", r.task);
        th.scope = "row";
        tr.appendChild(th);
        var diff = el("td", signed(r.d), "num");
        if (!missing(r.p) && r.p < 0.05) diff.classList.add("slmb-best");
        tr.appendChild(diff);
        tr.appendChild(el("td", "[" + signed(r.lo) + ", " + signed(r.hi) + "]", "num"));
        tr.appendChild(el("td", pValue(r.p), "num"));
        var ca = el("td", undefined, "num"), cb = el("td", undefined, "num");
        if (r.task === "aggregate") { ca.textContent = MISSING; cb.textContent = MISSING; } else {
          ca.appendChild(itemsLink(a, b, r.task, "a-only", r.onlyA));
          cb.appendChild(itemsLink(a, b, r.task, "b-only", r.onlyB));
        }
        tr.appendChild(ca);
        tr.appendChild(cb);
        tr.appendChild(el("td", missing(r.n) ? MISSING : r.n.toLocaleString("en-US"), "num"));
        tr.appendChild(el("td", r.test === "mcnemar" ? "exact McNemar" : "z (clustered)"));
        tbody.appendChild(tr);
      });
      tbl.appendChild(tbody);
      var scroll = el("div", undefined, "slmb-scroll");
      scroll.appendChild(tbl);
      pairBox.appendChild(scroll);
      var plot = forest(rows);
      if (plot) pairBox.appendChild(plot);
      pairBox.setAttribute("data-ready", "true");
    }).catch(function (err) { status.textContent = String(err.message || err); });
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
