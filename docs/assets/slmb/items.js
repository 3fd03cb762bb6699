// SLM Bench model page: the item browser (every evaluated item of a task) and its compare mode.
// Index: the JSON in #slmb-items-index (written by evals/site/items.py). A task's items are one
// gzip file per variant, fetched only when that task is opened and decompressed here
// (DecompressionStream), since static hosts serve .gz files without Content-Encoding.
// Prompts and generations are untrusted: every text goes in with textContent, and control and
// bidirectional-override characters are shown as visible marks instead of being obeyed.
// The view (task, variants, filter, category, search) lives in the page address so it can be shared.
// Names from the address are looked up as own properties only (own()): ?task=__proto__ or
// ?task=constructor must find nothing, not Object.prototype.
(function () {
  "use strict";
  var root = document.getElementById("slmb-items");
  var indexNode = document.getElementById("slmb-items-index");
  if (!root || !indexNode) return;
  var index = JSON.parse(indexNode.textContent);

  var PAGE = 50; // items drawn at once; "Show more" draws the next ones
  var KEYS = ["task", "a", "b", "show", "cat", "q"];
  var inputs = {
    task: document.getElementById("slmb-items-task"),
    a: document.getElementById("slmb-items-a"),
    b: document.getElementById("slmb-items-b"),
    show: document.getElementById("slmb-items-show"),
    cat: document.getElementById("slmb-items-cat"),
    q: document.getElementById("slmb-items-q")
  };
  var count = document.getElementById("slmb-items-count");
  var list = document.getElementById("slmb-items-list");
  var more = document.getElementById("slmb-items-more");
  var files = new Map(); // url -> Promise of the parsed file: each file is fetched once
  var state = {};
  var view = null; // {rows, compare, categories} of the loaded task
  var shown = 0;
  var loading = 0; // the latest load; an older one that finishes late is dropped

  // What contracts/safe_text.py calls hidden: controls (but tab and newline), format characters
  // (bidi overrides and isolates, zero-width ones, the BOM), lone surrogates, line and paragraph separators.
  var HIDDEN = /(?![\t\n])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) showText(node, String(text));
    return node;
  }

  // Text, with each hidden character replaced by a visible mark naming it.
  function showText(node, text) {
    var last = 0;
    text.replace(HIDDEN, function (ch, at) {
      if (at > last) node.appendChild(document.createTextNode(text.slice(last, at)));
      var code = ch.codePointAt(0).toString(16).toUpperCase();
      while (code.length < 4) code = "0" + code;
      var mark = el("span", "slmb-ctl");
      mark.textContent = "U+" + code;
      mark.title = "an invisible control character, shown instead of obeyed";
      node.appendChild(mark);
      last = at + ch.length;
      return ch;
    });
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  function option(value, label) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }

  function own(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
  }

  function label(variant) { return own(index.labels, variant) || variant; }

  function allowed(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }

  function readAddress() {
    var params = new URLSearchParams(window.location.search);
    KEYS.forEach(function (k) { state[k] = params.get(k) || ""; });
    if (!own(index.tasks, state.task)) state.task = "";
    var variants = state.task ? Object.keys(own(index.tasks, state.task)) : [];
    if (variants.indexOf(state.a) < 0) state.a = variants.length ? preferred(variants) : "";
    if (variants.indexOf(state.b) < 0 || state.b === state.a) state.b = "";
  }

  function preferred(variants) {
    // the first variant in page order (rank order) that has this task
    var order = Object.keys(index.labels);
    return order.filter(function (v) { return variants.indexOf(v) >= 0; })[0] || variants[0];
  }

  function writeAddress() {
    var params = new URLSearchParams();
    KEYS.forEach(function (k) { if (state[k]) params.set(k, state[k]); });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  function fillVariantSelects() {
    var variants = state.task ? own(index.tasks, state.task) : {};
    [inputs.a, inputs.b].forEach(function (select, i) {
      Array.prototype.forEach.call(select.options, function (o) {
        o.disabled = o.value !== "" && !own(variants, o.value);
        if (i === 1 && o.value === state.a) o.disabled = true;
      });
    });
    inputs.a.value = state.a;
    inputs.b.value = state.b;
    [inputs.a, inputs.b, inputs.show, inputs.q].forEach(function (input) { input.disabled = !state.task; });
  }

  function fillShow() {
    var options = [["", "All items"], ["right", "Right"], ["wrong", "Wrong"]];
    if (state.b) {
      options = [
        ["", "All items"],
        ["disagree", "Disagree (one right, one wrong)"],
        ["a-only", label(state.a) + " right, " + label(state.b) + " wrong"],
        ["b-only", label(state.b) + " right, " + label(state.a) + " wrong"],
        ["right", "Both right"],
        ["wrong", "Both wrong"]
      ];
    }
    inputs.show.textContent = "";
    options.forEach(function (o) { inputs.show.appendChild(option(o[0], o[1])); });
    if (!allowed(inputs.show, state.show)) state.show = "";
    inputs.show.value = state.show;
  }

  function fillCategories() {
    inputs.cat.textContent = "";
    var cats = view ? view.categories : [];
    inputs.cat.hidden = cats.length < 2;
    inputs.cat.appendChild(option("", "All categories"));
    cats.forEach(function (c) { inputs.cat.appendChild(option(c, c)); });
    if (!allowed(inputs.cat, state.cat)) state.cat = "";
    inputs.cat.value = state.cat;
  }

  // --- loading

  function gunzipped(buffer) {
    var bytes = new Uint8Array(buffer);
    if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
      return Promise.resolve(new TextDecoder().decode(bytes)); // a server already decoded it
    }
    var stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  function fetchFile(variant) {
    var entry = own(own(index.tasks, state.task), variant);
    var url = index.base + entry[0];
    if (!files.has(url)) {
      files.set(url, fetch(url).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
        return response.arrayBuffer();
      }).then(gunzipped).then(JSON.parse).catch(function (error) {
        files.delete(url); // let a later attempt retry
        throw error;
      }));
    }
    return files.get(url);
  }

  function rows(file) {
    return file.items.map(function (values) {
      var item = {};
      file.fields.forEach(function (field, i) { item[field] = values[i]; });
      item.key = item.subtask + "\u0000" + item.doc_id;
      var answer = item.pick !== null && item.pick !== undefined ? String(item.pick) : item.extracted;
      item.answer = answer === null || answer === undefined ? "" : String(answer);
      item.text = [item.prompt, (item.choices || []).join(" "), item.generation, item.extracted, item.target, item.sandbox]
        .filter(function (t) { return t !== null && t !== undefined; }).join("\n").toLowerCase();
      return item;
    });
  }

  function load() {
    var ticket = ++loading;
    view = null;
    list.textContent = "";
    more.hidden = true;
    fillCategories();
    if (!state.task) {
      count.textContent = "Choose a task: its items load when you open it.";
      return;
    }
    count.textContent = "Loading the items of " + state.task + "\u2026";
    var wanted = [fetchFile(state.a)];
    if (state.b) wanted.push(fetchFile(state.b));
    pairedSummary(ticket);
    Promise.all(wanted).then(function (loaded) {
      if (ticket !== loading) return;
      view = build(loaded[0], loaded[1] || null);
      fillCategories();
      draw(true);
    }).catch(function (error) {
      if (ticket !== loading) return;
      count.textContent = "The items could not be loaded: " + error.message;
    });
  }

  // One entry per item of A; in compare mode paired with B's item of the same subtask and document.
  function build(fileA, fileB) {
    var a = rows(fileA);
    var categories = new Set();
    var pairs = a.map(function (item) {
      if (item.category !== null && item.category !== undefined) categories.add(String(item.category));
      return { a: item, b: null, rank: 2 };
    });
    if (fileB) {
      var byKey = new Map(rows(fileB).map(function (item) { return [item.key, item]; }));
      pairs.forEach(function (pair) {
        pair.b = byKey.get(pair.a.key) || null;
        if (!pair.b) return;
        // disagreements first: one right and one wrong, then the same verdict with different answers
        if (pair.a.correct !== pair.b.correct) pair.rank = 0;
        else if (pair.a.answer !== pair.b.answer) pair.rank = 1;
      });
      pairs = pairs.filter(function (pair) { return pair.b; });
      pairs.sort(function (x, y) { return x.rank - y.rank; }); // stable: subtask and document order within a rank
    }
    return { pairs: pairs, compare: !!fileB, file: fileA, fileB: fileB, categories: Array.from(categories).sort() };
  }

  function keep(pair) {
    var a = pair.a, b = pair.b;
    if (state.cat && String(a.category) !== state.cat) return false;
    if (state.q) {
      var q = state.q.toLowerCase();
      if (a.text.indexOf(q) < 0 && !(b && b.text.indexOf(q) >= 0)) return false;
    }
    switch (state.show) {
      case "right": return a.correct === true && (!b || b.correct === true);
      case "wrong": return a.correct === false && (!b || b.correct === false);
      case "disagree": return !!b && a.correct !== b.correct;
      case "a-only": return !!b && a.correct === true && b.correct === false;
      case "b-only": return !!b && a.correct === false && b.correct === true;
      default: return true;
    }
  }

  // --- the paired test of A and B on this task (assets/slmb/pairs/<rank>.json, evals/site/pairs.py)

  var paired = document.getElementById("slmb-items-paired");
  var pairFiles = new Map();

  function signed(v) { return v === null || v === undefined ? "\u2014" : (v > 0 ? "+" : "") + Number(v).toFixed(1); }

  function pairedSummary(ticket) {
    if (!paired) return;
    paired.textContent = "";
    paired.hidden = true;
    var ranks = index.pairs || {};
    if (!state.b || !ranks[state.a] || !ranks[state.b]) return;
    var url = index.pairsBase + ranks[state.a] + ".json";
    if (!pairFiles.has(url)) pairFiles.set(url, fetch(url).then(function (r) { return r.ok ? r.json() : null; }));
    pairFiles.get(url).then(function (file) {
      if (ticket !== loading || !file) return;
      var pair = file.pairs[String(ranks[state.b])];
      var t = pair && pair.tasks[state.task];
      if (!t) return;
      paired.hidden = false;
      var p = t[3] < 0.0001 ? "<0.0001" : Number(t[3]).toPrecision(2);
      paired.appendChild(el("strong", null, label(state.a) + " \u2212 " + label(state.b) + ": " + signed(t[0]) + " points"));
      paired.appendChild(document.createTextNode(" (95% " + signed(t[1]) + " to " + signed(t[2]) + "), p = " + p +
        (t[7] === "mcnemar" ? " (exact McNemar)" : " (z, clustered)") + ". "));
      [["a-only", t[4], label(state.a)], ["b-only", t[5], label(state.b)]].forEach(function (side, i) {
        if (side[1] === null || side[1] === undefined) return;
        paired.appendChild(document.createTextNode(i ? " \u00b7 " : ""));
        var params = new URLSearchParams({task: state.task, a: state.a, b: state.b, show: side[0]});
        var link = el("a", null, "only " + side[2] + " right: " + side[1]);
        link.href = "?" + params.toString() + "#items";
        link.setAttribute("data-show", side[0]);
        link.addEventListener("click", function (e) {
          e.preventDefault();
          state.show = side[0];
          inputs.show.value = side[0];
          writeAddress();
          draw(true);
        });
        paired.appendChild(link);
      });
    });
  }

  // --- drawing

  function draw(reset) {
    if (!view) return;
    var matching = view.pairs.filter(keep);
    if (reset) {
      list.textContent = "";
      shown = 0;
    }
    var next = matching.slice(shown, shown + PAGE);
    next.forEach(function (pair) { list.appendChild(card(pair)); });
    shown += next.length;
    more.hidden = shown >= matching.length;
    more.textContent = "Show more (" + (matching.length - shown).toLocaleString("en") + " left)";
    count.textContent = summary(matching.length);
    root.setAttribute("data-ready", state.task + "|" + state.a + "|" + state.b);
  }

  function summary(matching) {
    var all = view.pairs.length;
    var text = "Showing " + shown.toLocaleString("en") + " of " + matching.toLocaleString("en") + " matching items (" +
      all.toLocaleString("en") + " in all). ";
    var right = function (side) { return view.pairs.filter(function (p) { return p[side] && p[side].correct === true; }).length; };
    text += label(state.a) + ": " + right("a") + " right";
    if (view.compare) {
      var disagree = view.pairs.filter(function (p) { return p.rank === 0; }).length;
      text += "; " + label(state.b) + ": " + right("b") + " right; they disagree on " + disagree + ".";
    } else {
      text += " of " + all + " (" + view.file.metric + " " + Number(view.file.value).toFixed(4) + " published).";
    }
    if (view.file.items.length && view.file.items[0][view.file.fields.indexOf("choices")]) {
      text += " \u25B6 marks the choice the metric counts as the answer, \u2605 the target.";
    }
    return text;
  }

  function verdict(item) {
    if (item.correct === true) return el("span", "slmb-verdict right", "\u2713 right");
    if (item.correct === false) return el("span", "slmb-verdict wrong", "\u2717 wrong");
    return el("span", "slmb-verdict", item.score === null ? "not scored 0/1" : "score " + item.score);
  }

  function card(pair) {
    var a = pair.a, b = pair.b;
    var node = el("article", "slmb-item");
    node.setAttribute("data-doc", a.subtask + "/" + a.doc_id);
    node.setAttribute("data-rank", String(pair.rank));
    var head = el("header", "slmb-item-head");
    head.appendChild(el("span", "slmb-doc", "#" + a.doc_id + (a.subtask !== view.file.task ? " \u00b7 " + a.subtask : "")));
    if (a.category !== null && a.category !== undefined && a.subtask !== a.category) {
      head.appendChild(el("span", "slmb-cat", String(a.category)));
    }
    [[a, state.a], [b, state.b]].forEach(function (side) {
      if (!side[0]) return;
      var who = el("span", "slmb-who");
      if (b) who.appendChild(el("strong", null, label(side[1]) + " "));
      who.appendChild(verdict(side[0]));
      head.appendChild(who);
    });
    if (b && pair.rank === 0) head.appendChild(el("span", "slmb-flag", "disagree"));
    if (b && pair.rank === 1) head.appendChild(el("span", "slmb-flag", "different answers"));
    node.appendChild(head);

    node.appendChild(el("div", "slmb-label", "Prompt"));
    node.appendChild(el("pre", "slmb-text slmb-prompt", a.prompt));
    if (b && b.prompt !== a.prompt) {
      node.appendChild(el("div", "slmb-label", "Prompt of " + label(state.b) + " (it differs)"));
      node.appendChild(el("pre", "slmb-text slmb-prompt", b.prompt));
    }
    if (a.choices) node.appendChild(choices(a, b));
    else node.appendChild(generations(a, b));
    return node;
  }

  function choices(a, b) {
    var table = el("table", "slmb-choices");
    var head = el("tr");
    ["", "Choice (as scored)"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    head.appendChild(el("th", "num", b ? "log-lik. " + label(state.a) : "log-likelihood"));
    if (b) head.appendChild(el("th", "num", "log-lik. " + label(state.b)));
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    var target = Number(a.target);
    a.choices.forEach(function (choice, i) {
      var tr = el("tr", i === target ? "slmb-target" : null);
      var marks = (i === target ? "\u2605 target" : "");
      tr.appendChild(el("td", "slmb-mark", marks));
      tr.appendChild(el("td", "slmb-text", choice));
      [a, b].forEach(function (side) {
        if (!side) return;
        var ll = side.loglikelihoods ? side.loglikelihoods[i] : null;
        var td = el("td", "num" + (side.pick === i ? " slmb-pick" : ""), ll === null || ll === undefined ? "\u2014" : ll.toFixed(4));
        if (side.pick === i) td.title = "the model's answer";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    var wrap = el("div", "slmb-scroll");
    wrap.appendChild(table);
    return wrap;
  }

  function generations(a, b) {
    var box = el("div", b ? "slmb-sides" : null);
    [[a, state.a], [b, state.b]].forEach(function (side) {
      var item = side[0];
      if (!item) return;
      var part = el("div", "slmb-side");
      if (b) part.appendChild(el("div", "slmb-side-name", label(side[1])));
      part.appendChild(el("div", "slmb-label", "Generated"));
      part.appendChild(el("pre", "slmb-text", item.generation === null ? "\u2014" : item.generation));
      if (item.extracted !== item.generation) { // a filter that keeps the whole text adds nothing to show
        part.appendChild(el("div", "slmb-label", "Extracted by the filter (" + view.file.filter + ")"));
        part.appendChild(el("pre", "slmb-text", item.extracted === null ? "\u2014" : item.extracted));
      }
      if (item.sandbox) {
        part.appendChild(el("div", "slmb-label", "Sandbox"));
        part.appendChild(el("pre", "slmb-text slmb-sandbox", item.sandbox));
      }
      box.appendChild(part);
    });
    var wrap = el("div");
    wrap.appendChild(box);
    wrap.appendChild(el("div", "slmb-label", "Target"));
    wrap.appendChild(el("pre", "slmb-text", a.target));
    return wrap;
  }

  // --- events

  function changed(key) {
    state[key] = inputs[key].value;
    if (key === "task" || key === "a" || key === "b") {
      if (key === "task") { state.cat = ""; state.show = ""; }
      if (key === "b" || key === "a") state.show = "";
      writeAddress();
      readAddress();
      fillVariantSelects();
      fillShow();
      writeAddress();
      load();
      return;
    }
    writeAddress();
    draw(true);
  }

  ["task", "a", "b", "show", "cat"].forEach(function (k) {
    inputs[k].addEventListener("change", function () { changed(k); });
  });
  var typing = null;
  inputs.q.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(function () { changed("q"); }, 150);
  });
  more.addEventListener("click", function () { draw(false); });

  readAddress();
  inputs.task.value = state.task;
  inputs.q.value = state.q;
  fillVariantSelects();
  fillShow();
  writeAddress();
  load();
  if (state.task && !window.location.hash) root.scrollIntoView();
})();
