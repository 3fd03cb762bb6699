"""Shared-prefix log-likelihood scoring for a causal transformers model: every shared token prefix runs once.

lm-eval's ``HFLM`` runs each request's whole context again for every choice
(its ``logits_cache`` shares a forward pass only between requests whose
``context + continuation[:-1]`` are identical). HellaSwag's four endings behind
one 700-token context cost 4 x 730 tokens where 700 + 4 x 30 would do.

Here a batch of requests becomes a token trie (compressed: one node per run
of tokens that the same requests share), and every node runs once, on the KV
cache of its parent (a ``transformers`` ``DynamicCache``, forked per child by
indexing its batch dimension):

- the requests are truncated on the left to the context window and cut to
  their input (``(context + continuation)[-(max_length + 1):][:-1]``), exactly
  as HFLM cuts them, so each logits row sees the same tokens at the same
  positions as in HFLM's pass;
- the longest common token prefix of any set of requests is one node, so
  all of these share work: the choices of one question (ARC, PIQA, HellaSwag,
  TruthfulQA), a few-shot preamble that many documents share, and
  WinoGrande's two sentences up to the blank, whose contexts differ and whose
  shared continuation is scored after each (lm-eval's partial evaluation);
- the nodes of one depth of the trie run together, up to ``batch_size`` rows
  per forward pass; siblings share their parent's cache rows. Inputs are
  padded on the right (which a causal model never attends to); a parent
  shorter than another in the same pass is padded between its cache and the
  new tokens, masked out, and the new tokens get their true position ids;
- a node computes the logits rows only from the first row any request under
  it scores (``logits_to_keep``), and the log-softmax of each row as HFLM
  takes it.

A request's log-likelihood sums the same rows HFLM sums; the rows differ from
HFLM's by float rounding only (the same attention over keys computed in
another pass), about 1e-7 per row in float32.
"""

from __future__ import annotations

import bisect
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import transformers

# (request key for lm-eval's cache hook, context tokens, continuation tokens), as lm-eval's TemplateLM passes them.
TokenRequest = tuple[tuple[str, str] | None, list[int], list[int]]
# Requests per trie: bounds the KV cache held at once; the sorted list is cut where neighbours share least.
CHUNK_REQUESTS = 512
# A run of tokens shared by fewer is computed again in each branch below it, not as a pass of its own
# (a pass costs more than a few tokens: the demo model on 2 cores spent ~10 ms per pass, winogrande's
# 2-3 token runs shared across sentences made the trie deep and the scorer slower than HFLM).
MIN_SHARED = 8
# The largest batch `auto` tries first on CUDA; it halves on out-of-memory, as lm-eval's auto does.
AUTO_BATCH_START = 512


@dataclass(eq=False)
class _Node:
    """A run of tokens shared by every request below it: positions ``start`` to ``start + len(tokens)``."""

    start: int
    tokens: list[int]
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    ending: list[int] = field(default_factory=list)  # the requests whose input ends here
    scored_from: int = 0  # earliest logits row (absolute position) any request below scores
    next_tokens: list[int] = field(default_factory=list)  # what the last row must score: children's, requests'
    kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # the cache of positions [0, end), batch 1
    # after its pass: per row from first_row, the log-prob of the next token in the node and its greedy check
    inner_logprob: list[float] = field(default_factory=list)
    inner_greedy: list[bool] = field(default_factory=list)
    last_logprob: dict[int, float] = field(default_factory=dict)  # the last row, at each of next_tokens
    last_greedy: int = -1  # the last row's argmax

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    @property
    def first_row(self) -> int:
        """The earliest row any request below scores, within this node or before it."""
        return max(self.start, self.scored_from)

    @property
    def lo(self) -> int:
        """The first local row this node's pass must keep logits for (the last row always)."""
        return min(max(0, self.first_row - self.start), len(self.tokens) - 1)


@dataclass
class TokenCounts:
    """Input tokens run through the model: by this scorer, and by HFLM for the same requests (no padding)."""

    computed: int = 0
    hflm: int = 0
    requests: int = 0

    @property
    def ratio(self) -> float | None:
        return self.computed / self.hflm if self.hflm else None


def supports_shared_prefix(model: transformers.PreTrainedModel) -> bool:
    """True when the model is a decoder whose cache is plain full attention in every layer.

    A sliding-window, linear-attention or recurrent layer keeps something other than the
    keys and values of every position, which a forked prefix cannot stand for here.
    """
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    try:
        layers = DynamicCache(config=model.config).layers
    except (TypeError, ValueError, AttributeError, KeyError):
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class SharedPrefixScorer:
    """Scores lm-eval log-likelihood requests on ``model``; ``batch_size`` rows per pass, or ``"auto"`` on CUDA."""

    def __init__(
        self,
        model: transformers.PreTrainedModel,
        *,
        max_length: int,
        batch_size: int | str,
        softmax_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.max_length = max_length
        self.softmax_dtype = softmax_dtype
        self.device = next(model.parameters()).device
        self.auto = batch_size == "auto"
        if self.auto and self.device.type != "cuda":
            raise ValueError("batch_size: 'auto' sizes batches to a CUDA device's memory; give a number on CPU")
        self.batch_size = AUTO_BATCH_START if self.auto else int(batch_size)
        self.largest_batch_used = 0  # the batch size (HFLM's meaning) the passes ran at: `auto`'s outcome
        self.most_rows = 0  # the most trie nodes one pass held
        self.counts = TokenCounts()
        self._bytes_per_token, self._cache_bytes_per_token = _memory_per_token(model)
        # transformers 5.2x names the cache argument `cache`; earlier 5.x `past_key_values`.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def score(
        self, requests: Sequence[TokenRequest], on_result: Callable[[int, tuple[float, bool]], None] | None = None
    ) -> list[tuple[float, bool]]:
        """``(log-likelihood, is_greedy)`` of every request, in order; ``on_result(index, answer)`` as each ends."""
        sequences: list[list[int]] = []
        for _, context, continuation in requests:
            if not context or not continuation:
                raise ValueError("loglikelihood: context and continuation must each have a token")
            if len(continuation) > self.max_length:
                raise ValueError(
                    f"loglikelihood: a continuation of {len(continuation)} tokens exceeds the "
                    f"{self.max_length}-token window; raise n_ctx or shorten the choice"
                )
            # HFLM's cut: left-truncated to the window plus the last token, which is only a target
            sequences.append((context + continuation)[-(self.max_length + 1) :])
        cont_lens = [len(continuation) for _, _, continuation in requests]
        self.counts.requests += len(requests)
        self.counts.hflm += _hflm_tokens(requests, sequences)
        order = sorted(range(len(sequences)), key=lambda i: sequences[i][:-1])
        results: list[tuple[float, bool] | None] = [None] * len(sequences)
        with torch.inference_mode():
            for chunk in _chunks(order, sequences):
                for index, answer in self._score_chunk(chunk, sequences, cont_lens):
                    results[index] = answer
                    if on_result is not None:
                        on_result(index, answer)
        return results  # type: ignore[return-value]

    def _score_chunk(
        self, chunk: list[int], sequences: list[list[int]], cont_lens: list[int]
    ) -> list[tuple[int, tuple[float, bool]]]:
        roots, ends = _build_trie(chunk, sequences, cont_lens)
        longest = max(len(sequences[i]) - 1 for i in chunk)
        wave = roots
        while wave:
            self._run_wave(wave, longest)
            for node in wave:
                if node.parent is not None:
                    node.parent.kv = None  # every child of the parent ran in this wave
            wave = [child for node in wave for child in node.children]
        return [(i, _answer(ends[i], sequences[i], cont_lens[i])) for i in chunk]

    def _run_wave(self, wave: list[_Node], longest: int) -> None:
        # Similar lengths together, so padding stays small; siblings stay next to each other.
        pending = sorted(wave, key=lambda n: (n.start, len(n.tokens)))
        while pending:
            batch = self._take(pending, longest)
            pending = pending[len(batch) :]
            try:
                self._run_batch(batch)
            except torch.OutOfMemoryError:
                if not self.auto or self.batch_size == 1:
                    raise
                torch.cuda.empty_cache()
                self.batch_size = max(1, self.batch_size // 2)
                pending = batch + pending
                continue
            self.largest_batch_used = max(self.largest_batch_used, self.batch_size)
            self.most_rows = max(self.most_rows, len(batch))

    def _take(self, pending: list[_Node], longest: int) -> list[_Node]:
        """The next rows of a pass: as many as fit in the memory of HFLM's widest pass at this batch size.

        HFLM's pass holds ``batch_size`` requests of the longest input, each position with its
        activations and two vocabulary-wide rows (logits, log-softmax). A row here holds its new
        tokens the same way and its parent's cached keys and values: short choices behind a long
        shared prefix fit many to a pass, where HFLM would take one pass per ``batch_size`` of them.
        """
        budget = self.batch_size * longest * self._bytes_per_token
        rows = width = past = 0
        for node in pending:
            w, p = max(width, len(node.tokens)), max(past, node.start)
            if rows and (rows + 1) * (p * self._cache_bytes_per_token + w * self._bytes_per_token) > budget:
                break
            rows, width, past = rows + 1, w, p
        return pending[:rows]

    def _run_batch(self, nodes: list[_Node]) -> None:
        pasts = [n.start for n in nodes]  # a node's parent ends where it starts
        past_max, width = max(pasts), max(len(n.tokens) for n in nodes)
        ids = torch.zeros((len(nodes), width), dtype=torch.long)
        for row, node in enumerate(nodes):
            ids[row, : len(node.tokens)] = torch.tensor(node.tokens, dtype=torch.long)
        positions = torch.tensor(pasts).unsqueeze(1) + torch.arange(width).unsqueeze(0)
        cache = self._past(nodes, past_max)
        kwargs: dict[str, Any] = {"position_ids": positions.to(self.device), "use_cache": True, self._cache_arg: cache}
        if min(pasts) != past_max:
            # A shorter cache is padded after its tokens: mask the padding (the new tokens come after it).
            mask = torch.ones((len(nodes), past_max + width), dtype=torch.long)
            for row, past in enumerate(pasts):
                mask[row, past:past_max] = 0
            kwargs["attention_mask"] = mask.to(self.device)
        # Rows before a node's first scored row are never read: don't project them onto the vocabulary.
        keep = max(width - n.lo for n in nodes)
        logits = self.model(ids.to(self.device), **kwargs, logits_to_keep=keep).logits
        logprobs = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)
        greedy = logprobs.argmax(dim=-1)
        offset = keep - width  # logits index of local row 0
        for row, node in enumerate(nodes):
            self.counts.computed += len(node.tokens)
            lo, last = node.lo, len(node.tokens) - 1
            if lo < last:
                targets = ids[row, lo + 1 : last + 1].to(self.device)
                rows = logprobs[row, lo + offset : last + offset]
                node.inner_logprob = rows.gather(-1, targets[:, None])[:, 0].tolist()
                node.inner_greedy = (greedy[row, lo + offset : last + offset] == targets).tolist()
            last_row = logprobs[row, last + offset]
            node.last_logprob = dict(zip(node.next_tokens, last_row[node.next_tokens].tolist(), strict=True))
            node.last_greedy = int(greedy[row, last + offset])
            if node.children:
                new = slice(past_max, past_max + last + 1)
                node.kv = [
                    (
                        torch.cat((layer.keys[row : row + 1, :, : node.start], layer.keys[row : row + 1, :, new]), 2),
                        torch.cat(
                            (layer.values[row : row + 1, :, : node.start], layer.values[row : row + 1, :, new]), 2
                        ),
                    )
                    for layer in cache.layers
                ]

    def _past(self, nodes: list[_Node], past_max: int) -> DynamicCache:
        """The parents' caches, one row per node (the cache forked per child), each padded to ``past_max``."""
        cache = DynamicCache(config=self.model.config)
        if past_max == 0:
            return cache
        parents = [n.parent.kv for n in nodes]  # type: ignore[union-attr]
        for layer in range(len(parents[0])):  # type: ignore[arg-type]
            keys, values = [], []
            for kv in parents:
                key, value = kv[layer]  # type: ignore[index]
                pad = past_max - key.shape[2]
                keys.append(F.pad(key, (0, 0, 0, pad)) if pad else key)
                values.append(F.pad(value, (0, 0, 0, pad)) if pad else value)
            cache.update(torch.cat(keys), torch.cat(values), layer)
        return cache


def _memory_per_token(model: transformers.PreTrainedModel) -> tuple[int, int]:
    """Bytes per position: of a pass (activations, logits and log-softmax), and of its cached keys and values."""
    config = model.config.get_text_config()
    size = next(model.parameters()).element_size()
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    per_token = size * (2 * config.vocab_size + 4 * hidden + 3 * intermediate)
    return per_token, size * 2 * config.num_hidden_layers * kv_heads * head_dim


def _answer(node: _Node, sequence: list[int], cont_len: int) -> tuple[float, bool]:
    """The request's ``(log-likelihood, is_greedy)`` from the rows of its path, the rows HFLM sums."""
    path = []
    while node is not None:
        path.append(node)
        node = node.parent  # type: ignore[assignment]
    first = len(sequence) - 1 - cont_len  # the first scored row
    logprob, greedy = [], True
    for node in reversed(path):
        if node.end <= first:
            continue
        begin = max(first, node.start) - node.start - node.lo  # index into the node's inner rows
        stop = len(node.tokens) - 1 - node.lo
        logprob += node.inner_logprob[begin:stop]
        greedy = greedy and all(node.inner_greedy[begin:stop])
        target = sequence[node.end]  # the token the node's last row predicts for this request
        logprob.append(node.last_logprob[target])
        greedy = greedy and node.last_greedy == target
    return float(sum(logprob)), greedy


def _hflm_tokens(requests: Sequence[TokenRequest], sequences: list[list[int]]) -> int:
    """Input tokens HFLM runs for these requests: one pass per distinct ``context + continuation[:-1]``."""
    seen: dict[tuple[int, ...], int] = {}
    for (_, context, continuation), sequence in zip(requests, sequences, strict=True):
        seen[tuple(context + continuation[:-1])] = len(sequence) - 1
    return sum(seen.values())


def _chunks(order: list[int], sequences: list[list[int]]) -> list[list[int]]:
    """``order`` cut into runs of at most ``CHUNK_REQUESTS``, each cut where neighbours share the fewest tokens."""
    chunks, begin = [], 0
    while len(order) - begin > CHUNK_REQUESTS:
        window = range(begin + CHUNK_REQUESTS // 2, begin + CHUNK_REQUESTS)
        cut = min(window, key=lambda i: (_common(sequences[order[i - 1]][:-1], sequences[order[i]][:-1]), -i))
        chunks.append(order[begin:cut])
        begin = cut
    chunks.append(order[begin:])
    return chunks


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _build_trie(
    chunk: list[int], sequences: list[list[int]], cont_lens: list[int]
) -> tuple[list[_Node], dict[int, _Node]]:
    """The compressed token trie of the inputs (``sequence[:-1]``) of ``chunk``, which lists them sorted.

    Returns the top nodes and the node each request's input ends at.
    """
    roots: list[_Node] = []
    ends: dict[int, _Node] = {}
    # (requests sharing tokens [0, depth), depth, their parent node, the list a new node joins)
    stack: list[tuple[list[int], int, _Node | None, list[_Node]]] = [(chunk, 0, None, roots)]
    while stack:
        group, depth, parent, siblings = stack.pop()
        first, last = sequences[group[0]][:-1], sequences[group[-1]][:-1]
        # sorted: the first and the last input share the group's longest common prefix
        end = depth + _common(first[depth:], last[depth:])
        if end == depth:  # only at the top, where inputs may start with different tokens
            node, children_list = None, roots
        else:
            node = _Node(start=depth, tokens=first[depth:end], parent=parent)
            node.scored_from = min(len(sequences[i]) - 1 - cont_lens[i] for i in group)
            siblings.append(node)
            children_list = node.children
        rest = []
        for i in group:
            if len(sequences[i]) - 1 == end:
                ends[i] = node  # type: ignore[assignment]
                node.ending.append(i)  # type: ignore[union-attr]
                node.next_tokens.append(sequences[i][end])  # type: ignore[union-attr]
            else:
                rest.append(i)
        keys = [sequences[i][end] for i in rest]
        begin = 0
        while begin < len(rest):
            stop = bisect.bisect_right(keys, keys[begin], lo=begin)
            if node is not None:
                node.next_tokens.append(keys[begin])
            stack.append((rest[begin:stop], end, node, children_list))
            begin = stop
    return _merge_short_runs(roots, None), ends


def _merge_short_runs(nodes: list[_Node], parent: _Node | None) -> list[_Node]:
    """``nodes`` with every run shorter than ``MIN_SHARED`` tokens folded into the runs below it.

    Such a run would be a pass (and a depth of the trie) of its own for a few tokens: its
    branches compute it again instead. A run that requests end at stays, without branches.
    """
    out: list[_Node] = []
    todo = list(nodes)
    while todo:
        node = todo.pop()
        node.parent = parent
        if node.children and len(node.tokens) < MIN_SHARED:
            for child in node.children:
                child.start, child.tokens = node.start, node.tokens + child.tokens
            todo += node.children
            node.children = []
            if not node.ending:
                continue
        node.children = _merge_short_runs(node.children, node)
        node.next_tokens = sorted(set(node.next_tokens))
        out.append(node)
    return out
