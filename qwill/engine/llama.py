"""The in-process llama.cpp engine (llama-cpp-python).

Only the EngineWorker's thread calls into this class. It keeps the token ids
that are in the KV cache, one cached prompt per request slot (completion,
next-edit, actions, agent: each in its own sequence, kv_sequences.py), and
re-evaluates only what differs from that slot's previous prompt (the longest
common prefix); finer planning (keeping a cached suffix, shifting) lives in
completion/, which lays out prompts so that typing appends. Prompt evaluation is
chunked so that a cancel lands between chunks, and generation checks the cancel
token before every token.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import token_healing
from .base import CancelToken, EngineError, GenerationRequest, GenerationStats, ModelInfo, ProblemListener
from .chat import chat_format_from_metadata
from .fim import find_template
from .gguf_reader import GGUFHeader
from .kv_sequences import CachedSequence, SequenceTable
from .placement import LoadReport, load_hooks
from .stops import StopMatcher

log = logging.getLogger(__name__)

# Prompt tokens evaluated between two looks at the cancel token.
_CANCEL_CHUNK = 128
# Prompts cached at once, each in its own sequence (0..n-1): the completion slot and the
# two most recently used others (next-edit, actions, agent). In the unified KV cache they
# share the context's cells, so a sequence costs no memory of its own (but recurrent state,
# which memory_plan counts per sequence).
CACHED_SEQUENCES = 3
# One more sequence where cached runs wait while tokens are inserted before them.
_SCRATCH_SEQ = CACHED_SEQUENCES
CONTEXT_SEQUENCES = CACHED_SEQUENCES + 1


@contextlib.contextmanager
def _sequences(llama_cpp: Any, n_seq_max: int = CONTEXT_SEQUENCES) -> Iterator[None]:
    """Create contexts with a unified KV cache (n_ctx cells in all) for `n_seq_max` sequences.

    llama-cpp-python's Llama does not expose n_seq_max; it builds its context from
    llama_context_default_params(), which we extend for the duration of the load.
    """
    lowlevel = llama_cpp.llama_cpp
    original = lowlevel.llama_context_default_params

    def params() -> Any:
        p = original()
        p.n_seq_max = n_seq_max
        p.kv_unified = True
        return p

    lowlevel.llama_context_default_params = params
    try:
        yield
    finally:
        lowlevel.llama_context_default_params = original


@dataclass(frozen=True)
class LlamaOptions:
    n_threads: int = 0
    context_size: int = 4096
    batch_size: int = 512
    gpu_layers: int = 0
    flash_attn: bool = False
    type_k: str | None = None
    type_v: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    # tensor-name regexes kept in RAM (experts on the CPU: `--cpu-moe`, `--n-cpu-moe N`)
    cpu_tensor_patterns: tuple[str, ...] = ()
    # llama.cpp's extra CPU buffer types (repacked weights, AMX): None decides by the build
    extra_buffers: bool | None = None


def default_threads() -> int:
    """Cores this process may use; llama.cpp decodes best with one thread per core."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        n = os.cpu_count() or 4
    return max(1, n)


_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2, "f32": 0, "q5_0": 6, "q5_1": 7, "q4_1": 3}


def build_has_amx(llama_cpp: Any) -> bool:
    """Whether this llama.cpp build carries its AMX matrix kernels (compiled for an AMX CPU)."""
    try:
        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    except Exception:  # pragma: no cover - an old binding without the call
        return False
    return "AMX_INT8 = 1" in info


def use_extra_buffers(llama_cpp: Any, choice: bool | None) -> bool:
    """llama.cpp's extra CPU buffer types on or off.

    With them on, a build compiled for an AMX CPU routes quantized matrix products to its
    AMX kernels, which die with SIGILL (`tilezero` on an unconfigured tile) on some of these
    CPUs: ggml-org/llama.cpp#20824 and #28756. Off, weights stay in plain CPU buffers, which
    every build runs (repacking, a prompt-speed gain, is lost with it). So `auto` turns them
    off exactly for AMX builds; a build without the AMX path (see the Makefile) keeps them.
    """
    if choice is not None:
        return choice
    return not build_has_amx(llama_cpp)


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise EngineError(
            f"llama-cpp-python is not installed or failed to load ({exc}); "
            "install it with: pip install llama-cpp-python (see the README for GPU builds)"
        ) from None
    return llama_cpp


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints load chatter on fd 2; keep the editor's log readable."""
    try:
        fd = os.dup(2)
    except OSError:  # pragma: no cover
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


class LlamaEngine:
    """A GGUF model loaded into llama.cpp, one cached prompt per slot, prefix-reusing."""

    # prompts evaluated ahead of time stay in this engine's KV cache (see warm-up)
    local_kv_cache = True
    # GenerationRequest.grammar constrains decoding (llama.cpp's grammar sampler)
    supports_grammar = True

    def __init__(self, path: Path, header: GGUFHeader, options: LlamaOptions,
                 *, fim_template: str = "", verbose: bool = False) -> None:
        llama_cpp = import_llama_cpp()
        self.path = path
        self.header = header
        self.options = options
        n_ctx = options.context_size
        if header.context_length:
            n_ctx = min(n_ctx, header.context_length)
        kwargs: dict[str, Any] = dict(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=options.batch_size,
            n_ubatch=min(options.batch_size, 512),
            n_threads=options.n_threads or default_threads(),
            n_threads_batch=options.n_threads or default_threads(),
            n_gpu_layers=options.gpu_layers,
            flash_attn=options.flash_attn,
            verbose=verbose,
            logits_all=False,
        )
        if options.type_k:
            kwargs["type_k"] = _KV_TYPES[options.type_k]
        if options.type_v:
            kwargs["type_v"] = _KV_TYPES[options.type_v]
        kwargs.update(dict(options.extra))
        # what llama.cpp allocated and logged; holds the override array for the model's lifetime
        self.load_report = LoadReport()
        try:
            with _sequences(llama_cpp), (contextlib.nullcontext() if verbose else _quiet_stderr()), \
                    load_hooks(llama_cpp, options.cpu_tensor_patterns, verbose=verbose,
                               report=self.load_report,
                               extra_buffers=use_extra_buffers(llama_cpp, options.extra_buffers)):
                self.llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(
                f"llama.cpp could not load {path.name} (architecture "
                f"'{header.architecture}'): {exc}{self.load_report.failure()}. If the architecture is new, upgrade "
                "llama-cpp-python; if memory is short, lower engine.contextSize or use a "
                "smaller model"
            ) from None
        self._llama_cpp = llama_cpp
        self._piece_index: token_healing.PieceIndex | None = None
        # Shortest run of cached tokens worth moving instead of re-evaluating.
        self.min_reuse = 32
        self.can_shift = bool(llama_cpp.llama_memory_can_shift(self._memory()))
        self.n_ctx = self.llm.n_ctx()
        # the cached prompts, within the cells a single prompt may use (see generate)
        self.sequences = SequenceTable(range(CACHED_SEQUENCES), cells=self.n_ctx - 1)
        # cells of the sequence being prepared that wait in the scratch sequence
        self._scratch_cells = 0
        self.info = ModelInfo(
            name=header.name,
            path=str(path),
            architecture=header.architecture,
            file_size=header.file_size,
            context_length=header.context_length,
            parameters=header.parameter_count,
            expert_count=header.expert_count,
            expert_used_count=header.expert_used_count,
            fim_template=fim_template,
            extra={"n_ctx": str(self.n_ctx), "n_threads": str(kwargs["n_threads"])},
            chat_format=chat_format_from_metadata(header.metadata, header.tokens),
        )
        self.fim = find_template(fim_template)
        self.problem_listeners: list[ProblemListener] = []  # a local model has no server to fail

    # -- tokens ----------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def detokenize(self, tokens: list[int]) -> str:
        return bytes(self.llm.detokenize(tokens, special=True)).decode("utf-8", errors="replace")

    def _is_eog(self, token: int) -> bool:
        vocab = self._llama_cpp.llama_model_get_vocab(self.llm.model)
        return bool(self._llama_cpp.llama_vocab_is_eog(vocab, token))

    # -- KV cache --------------------------------------------------------------
    # `seq.tokens[p]` is the token whose K/V sit at position p of sequence `seq.seq_id`.
    # llama-cpp-python's `n_tokens` follows the sequence of the request in progress (nothing
    # of llama-cpp-python that reads it runs here: sampling reads the last decode's logits).
    def _memory(self) -> Any:
        return self._llama_cpp.llama_get_memory(self.llm._ctx.ctx)

    def _sequence(self, slot: str) -> CachedSequence:
        """The cached sequence of `slot`, giving up the least recently used one if needed."""
        seq, dropped = self.sequences.acquire(slot)
        for old in dropped:
            self._llama_cpp.llama_memory_seq_rm(self._memory(), old.seq_id, -1, -1)
        return seq

    def _make_room(self, seq: CachedSequence, needed: int) -> None:
        """Evict other slots' sequences until `seq` can hold `needed` cells (unified cache)."""
        for old in self.sequences.evictions(seq, needed):
            log.debug("KV cache: evicting the %s prompt (%d tokens) for the %s one",
                      old.slot, len(old.tokens), seq.slot)
            self._llama_cpp.llama_memory_seq_rm(self._memory(), old.seq_id, -1, -1)
            self.sequences.drop(old)

    def _truncate_cache(self, seq: CachedSequence, keep: int) -> int:
        """Drop everything after the first `keep` cached tokens of `seq`; returns how many
        stay. A memory that cannot drop a tail (a recurrent model's state, as in Qwen3-Next,
        holds no positions to cut at) refuses: the sequence starts over from nothing."""
        if keep < len(seq.tokens):
            mem = self._memory()
            if not self._llama_cpp.llama_memory_seq_rm(mem, seq.seq_id, keep, -1):
                self._llama_cpp.llama_memory_seq_rm(mem, seq.seq_id, -1, -1)
                keep = 0
            del seq.tokens[keep:]
        self.llm.n_tokens = keep
        return keep

    def _decode_at(self, seq: CachedSequence, tokens: list[int], pos: int, cancel: CancelToken) -> int:
        """Decode `tokens` into `seq` at positions pos.. without touching its other cells.

        Returns how many were decoded (fewer when cancelled between chunks).
        """
        step = min(_CANCEL_CHUNK, self.options.batch_size)
        done = 0
        batch = self.llm._batch
        while done < len(tokens):
            if cancel.cancelled:
                break
            chunk = tokens[done:done + step]
            self._make_room(seq, pos + done + len(chunk) + self._scratch_cells)
            batch.set_batch(batch=chunk, n_past=pos + done, logits_all=False)
            if seq.seq_id != 0:  # set_batch writes sequence 0
                for t in range(len(chunk)):
                    batch.batch.seq_id[t][0] = seq.seq_id
            self.llm._ctx.decode(batch)
            done += len(chunk)
        return done

    def _find_reuse(self, cached: list[int], tokens: list[int], common: int) -> tuple[int, int, int] | None:
        """A run of `cached` tokens (after the common prefix) that reappears later in
        the new prompt: (cache index, prompt index, length), or None."""
        k = 8
        if len(cached) - common < self.min_reuse or len(tokens) - common < self.min_reuse:
            return None
        grams: dict[tuple[int, ...], int] = {}
        for j in range(common, len(tokens) - k + 1):
            grams.setdefault(tuple(tokens[j:j + k]), j)
        i = common
        while i <= len(cached) - k:
            found = grams.get(tuple(cached[i:i + k]))
            if found is not None and found != i:
                j = found
                m = 0
                while (i + m < len(cached) and j + m < len(tokens)
                       and cached[i + m] == tokens[j + m]):
                    m += 1
                # the final prompt token is always decoded again, for fresh logits
                m = min(m, len(tokens) - 1 - j)
                if m >= self.min_reuse:
                    return i, j, m
                i += max(m, 1)
                continue
            i += 1
        return None

    def _prepare(self, seq: CachedSequence, tokens: list[int], cancel: CancelToken, stats: GenerationStats,
                 *, shift: bool = False) -> bool:
        """Make sequence `seq` of the KV cache hold `tokens`, evaluating as few as possible.

        Reuses the longest common prefix and, with `shift`, one later run of cached
        tokens that the new prompt still contains (typically the FIM suffix after
        the user's edit), moved to its new position with the memory API instead of
        evaluated again (an approximation: see GenerationRequest.kv_shift). False
        when cancelled (the cache stays consistent).
        """
        cached = seq.tokens
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        if common == len(tokens):
            common -= 1  # the last prompt token is evaluated again for fresh logits
        reuse = (self._find_reuse(cached, tokens, common)
                 if shift and self.can_shift and self.min_reuse > 0 else None)
        if reuse is None:
            common = self._truncate_cache(seq, common)
            done = self._decode_at(seq, tokens[common:], common, cancel)
            stats.prompt_eval_tokens = done  # what was evaluated, also when cancelled part-way
            cached.extend(tokens[common:common + done])
            self.llm.n_tokens = len(cached)
            return done == len(tokens) - common
        i, j, m = reuse
        mem = self._memory()
        lib = self._llama_cpp
        s = seq.seq_id
        # llama.cpp only decodes at the end of a sequence, so the run waits in the
        # scratch sequence while the inserted tokens are decoded, then comes back.
        lib.llama_memory_seq_rm(mem, s, i + m, -1)
        lib.llama_memory_seq_rm(mem, _SCRATCH_SEQ, -1, -1)
        lib.llama_memory_seq_cp(mem, s, _SCRATCH_SEQ, i, i + m)
        lib.llama_memory_seq_rm(mem, s, common, -1)
        if j != i:
            lib.llama_memory_seq_add(mem, _SCRATCH_SEQ, i, i + m, j - i)
        stats.shifted_tokens = m
        del cached[common:]
        self._scratch_cells = m  # the run's cells count as this sequence's while they wait
        try:
            done = self._decode_at(seq, tokens[common:j], common, cancel)
        finally:
            self._scratch_cells = 0
        stats.prompt_eval_tokens = done
        cached.extend(tokens[common:common + done])
        if done < j - common:
            lib.llama_memory_seq_rm(mem, _SCRATCH_SEQ, -1, -1)
            self.llm.n_tokens = len(cached)
            return False
        lib.llama_memory_seq_cp(mem, _SCRATCH_SEQ, s, j, j + m)
        lib.llama_memory_seq_rm(mem, _SCRATCH_SEQ, -1, -1)
        cached.extend(tokens[j:j + m])
        done = self._decode_at(seq, tokens[j + m:], j + m, cancel)
        stats.prompt_eval_tokens += done
        cached.extend(tokens[j + m:j + m + done])
        self.llm.n_tokens = len(cached)
        return done == len(tokens) - j - m

    # -- generation --------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> Iterator[str]:
        t0 = time.perf_counter()
        typed = request.fim.middle if request.fim is not None else ""
        request = request.rendered(self.fim)
        tokens = self.tokenize(request.prompt)
        # token healing: the typed middle's last token is generated again (token_healing.py)
        heal = b""
        if typed and request.max_tokens > 0 and not request.grammar:
            pieces = self._pieces()
            if token_healing.healed_tail(tokens, typed, pieces.pieces):
                heal = pieces.pieces[tokens.pop()]
        stats.prompt_tokens = len(tokens)
        budget = self.n_ctx - 1
        if len(tokens) >= budget:
            raise EngineError(
                f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}; "
                "raise engine.contextSize or lower completion.linesBefore"
            )
        max_new = min(request.max_tokens, budget - len(tokens))
        seq = self._sequence(request.slot)
        if not self._prepare(seq, tokens, cancel, stats, shift=request.kv_shift):
            stats.stop_reason = "cancelled"
            stats.prompt_seconds = time.perf_counter() - t0
            return
        stats.prompt_seconds = time.perf_counter() - t0
        sampler = self._sampler(request)
        matcher = StopMatcher(request.stop)
        pending = b""
        t1 = time.perf_counter()
        first_at: float | None = None
        stats.stop_reason = "length"
        try:
            for _ in range(max_new):
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    break
                if heal:
                    token = self._heal_token(heal)
                    heal, text = token_healing.advance(heal, self._pieces().pieces[token])
                else:
                    token = sampler.sample(self.llm._ctx, -1)
                    if self._is_eog(token):
                        stats.stop_reason = "eos"
                        break
                    text = bytes(self.llm.detokenize([token], special=True))
                stats.generated_tokens += 1
                pending += text
                try:
                    piece = pending.decode("utf-8")
                    pending = b""
                except UnicodeDecodeError:
                    piece = "" if len(pending) < 4 else pending.decode("utf-8", errors="replace")
                    if piece:
                        pending = b""
                out = matcher.feed(piece) if piece else ""
                if out:
                    if first_at is None:
                        first_at = time.perf_counter()
                    yield out
                if matcher.stopped:
                    stats.stop_reason = "stop"
                    break
                if request.time_budget and first_at is not None and (
                    time.perf_counter() - first_at > request.time_budget
                ):
                    stats.stop_reason = "time"
                    break
                # Feed the sampled token back so the next one can be sampled.
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    break
                if not self._decode_at(seq, [token], len(seq.tokens), cancel):
                    stats.stop_reason = "cancelled"
                    break
                seq.tokens.append(token)
                self.llm.n_tokens = len(seq.tokens)
            else:
                stats.stop_reason = "length"
            tail = matcher.flush()
            if tail and stats.stop_reason != "cancelled":
                yield tail
        finally:
            stats.generate_seconds = time.perf_counter() - t1

    # -- sampling ----------------------------------------------------------------------
    def _pieces(self) -> token_healing.PieceIndex:
        """Every token's text, indexed for token healing (built once, ~1 s)."""
        if self._piece_index is None:
            n = self.llm.n_vocab()
            self._piece_index = token_healing.PieceIndex(
                [bytes(self.llm.detokenize([i], special=False)) for i in range(n)])
        return self._piece_index

    def _heal_token(self, remaining: bytes) -> int:
        """The most likely token that agrees with the text still to spell (greedy: the
        user already typed it, there is nothing to sample)."""
        candidates = self._pieces().consistent(remaining)
        logits = self.llm._ctx.get_logits_ith(-1)
        return max(candidates, key=lambda t: float(logits[t]))

    def _sampler(self, request: GenerationRequest) -> Any:
        """The sampler chain for a request: llama-cpp-python's own, or with the request's
        grammar in front of it (lazy when the request names triggers)."""
        if not request.grammar:
            return self.llm._init_sampler(temp=request.temperature, repeat_penalty=1.0)
        from llama_cpp import _internals

        lib = self._llama_cpp
        vocab = lib.llama_model_get_vocab(self.llm.model)
        grammar = request.grammar.encode("utf-8")
        if request.grammar_triggers:
            # llama.cpp matches the patterns against all text generated so far and starts the
            # grammar at the first group; a trigger that is one token also triggers by id.
            alternatives = "|".join(re.escape(t) for t in request.grammar_triggers)
            patterns = (ctypes.c_char_p * 1)(f"^[\\s\\S]*?({alternatives})[\\s\\S]*".encode())
            ids = [t[0] for t in (self.llm.tokenize(w.encode("utf-8"), add_bos=False, special=True)
                                  for w in request.grammar_triggers) if len(t) == 1]
            token_array = (lib.llama_token * max(1, len(ids)))(*ids)
            native = lib.llama_sampler_init_grammar_lazy_patterns(vocab, grammar, b"root", patterns, 1,
                                                                  token_array, len(ids))
        else:
            native = lib.llama_sampler_init_grammar(vocab, grammar, b"root")
        if not native:
            raise EngineError("the grammar for this request does not parse (llama.cpp refused it)")
        sampler: Any = _internals.LlamaSampler  # untyped upstream
        sampler = sampler()
        lib.llama_sampler_chain_add(sampler.sampler, native)
        if request.temperature <= 0.0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(40)
            sampler.add_top_p(0.95, 1)
            sampler.add_min_p(0.05, 1)
            sampler.add_temp(request.temperature)
            sampler.add_dist(lib.LLAMA_DEFAULT_SEED)
        return sampler

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.llm.close()
