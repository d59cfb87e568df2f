"""The composition root: a spec checked at the door, then wired to its evaluators."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epim import results
from epim.datasets import check_named_dataset, dataset_shape
from epim.errors import InputError
from epim.search import (
    PreparedStudy,
    StudyLimits,
    StudySpec,
    prepare_study,
    sampler_limits_error,
)
from epim.service._evaluators import ProxyAccuracy
from epim.service._stored import spec_of
from epim.space import Design
from epim.workloads import proxy_memory, scale_network

#: Images the proxy evaluates at once (``epim.proxy.evaluate``, without gradients).
EVAL_CHUNK = 500
#: Images a zero-cost proxy scores at once (``epim.proxy`` synflow and NASWOT).
ZERO_COST_BATCH = 64
#: Stored bytes of one trial besides its design, parameters and per-layer lists: metrics,
#: constraints, objective values, sampler state, hashes, flags and the row itself.
TRIAL_FIXED_BYTES = 1_000
#: Stored bytes per layer and per-layer list (crossbars, tiles, latency, energy): a number
#: in JSON and its separator.
LAYER_VALUE_BYTES = 22


def prepare_submission(spec: StudySpec, *, limits: StudyLimits | None = None,
                       data_roots: Mapping[str, Path] | None = None,
                       checkpoints: Mapping[str, Path] | None = None) -> PreparedStudy:
    """Resolve everything a runner would: network, hardware, space and the proxy's dataset.

    A spec that passes runs; one that would fail later fails here, with the field path. It
    also bounds what the study costs the server: the searched parameters its sampler is asked
    to handle (``epim.search.sampler_limits_error``), the memory its proxy needs to train
    (``limits.max_proxy_bytes``) and the bytes its trials store (``limits.max_study_bytes``).

    Raises:
        InputError: With ``location`` the path of the offending field in the spec.

    """
    limits = limits or StudyLimits()
    prepared = prepare_study(spec, limits)
    bound = sampler_limits_error(spec, len(prepared.space.parameters()))
    if bound is not None:
        raise InputError(bound, location=("sampler",), field="name",
                         expected="a sampler that takes this many parameters, or fewer "
                         "searched parameters")
    check_stored_bytes(prepared, limits.max_study_bytes)
    accuracy = spec.accuracy
    if spec.needs_accuracy and accuracy is not None:
        try:
            check_named_dataset(accuracy.dataset, accuracy.data_root, data_roots or {})
        except InputError as exc:
            raise InputError(exc.message, location=("accuracy",), field=exc.field,
                             expected=exc.expected) from None
        root = accuracy.data_root
        data_root = None if root is None else (data_roots or {}).get(root)
        check_proxy_memory(prepared, limits.max_proxy_bytes, data_root)
        if accuracy.checkpoint is not None:
            check_named_checkpoint(prepared, checkpoints or {}, data_root)
    return prepared


def resolve_checkpoint(name: str, checkpoints: Mapping[str, Path]) -> Path:
    """The file behind a checkpoint name the operator defined (``EPIM_CHECKPOINTS``).

    Raises:
        InputError: At ``accuracy.checkpoint``, listing the names defined (never a path).

    """
    if name not in checkpoints:
        defined = ", ".join(sorted(checkpoints)) or "none: the operator sets EPIM_CHECKPOINTS"
        raise InputError(f"no checkpoint named '{name}' on this server",
                         location=("accuracy",), field="checkpoint",
                         expected=f"a checkpoint the operator defined ({defined})")
    return checkpoints[name]


def check_named_checkpoint(prepared: PreparedStudy, checkpoints: Mapping[str, Path],
                           data_root: Path | None = None) -> None:
    """Refuse a checkpoint that cannot be read or does not fit the study's proxy network.

    The network must take the dataset's images as it is (a checkpoint's weights are not
    rescaled), and the file must hold tensors only, each of its layer's shape
    (``epim.proxy.check_checkpoint_file``).

    Raises:
        InputError: At ``accuracy.checkpoint``, naming the checkpoint and the first tensor
            that does not fit (its shape and the shape needed).

    """
    from epim.proxy import ProxyConfig, check_checkpoint_file

    accuracy = prepared.spec.accuracy
    assert accuracy is not None and accuracy.checkpoint is not None
    path = resolve_checkpoint(accuracy.checkpoint, checkpoints)
    shape, classes = dataset_shape(accuracy.dataset, data_root)
    config = ProxyConfig(dataset=accuracy.dataset, width=accuracy.width,
                         image_size=accuracy.image_size, checkpoint=str(path))
    try:
        check_checkpoint_file(prepared.network, config, shape, classes)
    except InputError as exc:
        raise InputError(f"checkpoint '{accuracy.checkpoint}': {exc.message}",
                         location=("accuracy",), field=exc.field,
                         expected=exc.expected) from None


def check_proxy_memory(prepared: PreparedStudy, max_bytes: int,
                       data_root: Path | None = None) -> None:
    """Refuse a study whose proxy would need more than ``max_bytes`` of memory.

    The proxy is the study's network scaled by ``accuracy.width`` and ``image_size`` to the
    dataset's channels and classes (as ``epim.proxy`` builds it); its memory is the largest of
    training on ``accuracy.batch_size`` images, evaluating ``EVAL_CHUNK`` images at once, and,
    for the ``layerwise`` sampler, profiling ``profile_samples`` images at once
    (``epim.workloads.proxy_memory`` says what each counts).

    Raises:
        InputError: Naming the setting to lower (``accuracy.batch_size``, ``accuracy.width``,
            ``accuracy.image_size`` or ``sampler.layerwise.profile_samples``) with the
            estimate and the limit.

    """
    spec = prepared.spec
    accuracy = spec.accuracy
    if accuracy is None:
        return
    (channels, height, _), classes = dataset_shape(accuracy.dataset, data_root)
    size = accuracy.image_size or height
    try:
        proxy = scale_network(prepared.network, width=accuracy.width, image_size=size,
                              in_channels=channels, num_classes=classes)
    except InputError as exc:
        raise InputError(f"the proxy network cannot be built: {exc}", location=("accuracy",),
                         field="width", expected="a width and image_size the network can "
                         "be scaled to") from None
    memory = proxy_memory(proxy)
    batch = accuracy.batch_size if accuracy.proxy == "train" else ZERO_COST_BATCH
    # Too large even for one image: the network itself (width, image size) must shrink.
    size_field = "image_size" if accuracy.image_size else "width"
    sizes = "accuracy.width or accuracy.image_size"
    # (bytes, location, field, what needs them, what to lower), in the order they happen
    needs: list[tuple[int, tuple[str, ...], str, str, str]] = [(
        memory.training(batch), ("accuracy",),
        size_field if memory.training(1) > max_bytes else "batch_size",
        f"training on batches of {batch} images of {size}x{size}",
        f"a smaller accuracy.batch_size, {sizes}")]
    if accuracy.proxy == "train":
        images = min(EVAL_CHUNK, accuracy.eval_samples or EVAL_CHUNK)
        needs.append((memory.inference(images), ("accuracy",), size_field,
                      f"evaluating {images} images at once", f"a smaller {sizes}"))
    if spec.sampler.name == "layerwise":
        samples = spec.sampler.layerwise.profile_samples
        needs.append((memory.inference(samples, copies=2), ("sampler", "layerwise"),
                      "profile_samples", f"profiling on {samples} images at once",
                      f"a smaller sampler.layerwise.profile_samples, {sizes}"))
    for needed, location, field, what, remedy in needs:  # the first phase past the limit
        if needed > max_bytes:
            raise InputError(
                f"the proxy would need about {_gib(needed)} for {what} (weights and their "
                f"training state {_gib(memory.weights)}, "
                f"{_gib(memory.activations_per_image)} of activations per training image)",
                location=location, field=field,
                expected=f"at most {_gib(max_bytes)} on this server (EPIM_MAX_PROXY_BYTES): "
                f"{remedy}")


def stored_bytes_per_trial(prepared: PreparedStudy) -> int:
    """Estimated bytes one stored trial takes (its JSON columns and its row).

    A trial stores its design (every compute layer's name and fields), the sampler's
    parameters (one per searched field, named after its layer), four lists over the network's
    layers (crossbars, tiles, latency, energy) and a fixed part (``TRIAL_FIXED_BYTES``).
    """
    network = prepared.network
    # The dense design's values are the largest a layer takes (but for spatial growth).
    design_bytes = len(json.dumps(Design.dense(network, 16, 16).to_dict()))
    params = sum(len(json.dumps(name)) + 2 + len(str(max(choices))) + 2
                 for name, choices in prepared.space.parameters().items())
    layers = 4 * len(network.layers) * LAYER_VALUE_BYTES
    return design_bytes + params + layers + TRIAL_FIXED_BYTES


def stored_trials(spec: StudySpec) -> int:
    """Trials a study stores at most.

    ``n_trials``, plus the screening rungs of the ``layerwise`` sampler (``screen_factor``
    short trainings per trial).
    """
    layerwise = spec.sampler.layerwise
    screening = spec.sampler.name == "layerwise" and layerwise.screen_steps != 0
    return spec.budget.n_trials * (1 + (layerwise.screen_factor if screening else 0))


def check_stored_bytes(prepared: PreparedStudy, max_bytes: int) -> None:
    """Refuse a study whose trials would store more than ``max_bytes``.

    Raises:
        InputError: Naming ``budget.n_trials`` with the estimate per trial and the largest
            trial count this server admits for the network.

    """
    per_trial = stored_bytes_per_trial(prepared)
    trials = stored_trials(prepared.spec)
    if per_trial * trials > max_bytes:
        factor = trials // prepared.spec.budget.n_trials
        most = max(1, max_bytes // (per_trial * factor))
        raise InputError(
            f"{prepared.spec.budget.n_trials} trials of about {per_trial / 1e3:.1f} kB each "
            f"would store about {_gib(per_trial * trials)}", location=("budget",),
            field="n_trials", expected=f"at most {_gib(max_bytes)} per study on this server "
            f"(EPIM_MAX_STUDY_BYTES): at most {most} trials of this network and space")


def _gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**28 else f"{size / 2**20:.1f} MiB"


def make_accuracy(spec: StudySpec, data_roots: Mapping[str, Path] | None = None,
                  checkpoints: Mapping[str, Path] | None = None) -> ProxyAccuracy | None:
    """The accuracy evaluator a spec needs (``None`` for cost-only studies)."""
    if not spec.needs_accuracy or spec.accuracy is None:
        return None
    root = spec.accuracy.data_root
    return ProxyAccuracy(spec.accuracy,
                         threads=max(1, math.floor(spec.executor.cpus_per_trial)),
                         data_root=None if root is None else (data_roots or {})[root],
                         checkpoint=None if spec.accuracy.checkpoint is None
                         else resolve_checkpoint(spec.accuracy.checkpoint, checkpoints or {}))


@dataclass(frozen=True)
class Submission:
    """A stored submission: the study, and what the submitter should be told.

    Attributes:
        row: The study (new, or the one an ``Idempotency-Key`` named before).
        duplicate_of: Id of an older study with the same spec (same name and settings), if
            any; the submission was stored all the same (a second, identical study).
        replayed: True if ``row`` was created by an earlier request with the same
            ``Idempotency-Key``: nothing was stored this time.

    """

    row: results.StudyRow
    duplicate_of: int | None = None
    replayed: bool = False


class IdempotencyKeyError(InputError):
    """An ``Idempotency-Key`` used before for another spec, or for a deleted study."""


#: Artifact kind of the ``Idempotency-Key`` records (``epim_artifacts``: key -> study).
IDEMPOTENCY_KIND = "idempotency"
_KEY_PREFIX = "idempotency:"


class QueueFullError(InputError):
    """The server's queue holds ``max_queued`` studies already (HTTP 429)."""


def network_name(spec: StudySpec) -> str:
    """The name a study's network is listed under (an inline network's ``name``)."""
    network = spec.network
    return network if isinstance(network, str) else str(network.get("name", ""))


def submit(url: str, spec: StudySpec, *, limits: StudyLimits | None = None,
           data_roots: Mapping[str, Path] | None = None,
           checkpoints: Mapping[str, Path] | None = None, max_queued: int | None = None,
           idempotency_key: str | None = None) -> Submission:
    """Check a spec completely and store it as a queued study: the one way a study is made.

    ``POST /studies`` and ``epim study run`` both come here. A request repeated with its
    ``Idempotency-Key`` gets its study back before anything is checked again
    (:func:`replayed_submission`); otherwise the spec is resolved as a runner would
    (:func:`prepare_submission`: network, hardware, space, dataset, the server's limits), the
    queue's bound is checked, and the study is stored (:func:`submit_study`).

    Raises:
        InputError: With the field path, if the spec would fail to run.
        QueueFullError: If ``max_queued`` studies are queued already.
        IdempotencyKeyError: If the key was used for another spec, or its study was deleted.

    """
    replayed = replayed_submission(url, spec, idempotency_key)
    if replayed is not None:
        return replayed
    prepare_submission(spec, limits=limits, data_roots=data_roots, checkpoints=checkpoints)
    if max_queued is not None and results.count_studies(url, "queued") >= max_queued:
        raise QueueFullError(f"{max_queued} studies are already queued; try later",
                             field="status", expected="fewer queued studies")
    return submit_study(url, spec, idempotency_key=idempotency_key)


def canonical_spec(spec: StudySpec) -> dict[str, Any]:
    """The spec as it is stored: every default filled in, JSON types (compared for duplicates)."""
    document: dict[str, Any] = spec.model_dump(mode="json")
    return document


def _withdraw(url: str, study_id: int) -> None:
    """Remove a study stored a moment ago (still queued: cancelled at once, then deleted)."""
    results.request_cancel(url, study_id)
    results.delete_study(url, study_id)


def _spec_digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _key_record(key: str) -> str:
    """The artifact key of an ``Idempotency-Key`` (its SHA-256, so any text fits 64 chars)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return _KEY_PREFIX + digest[:64 - len(_KEY_PREFIX)]


def find_duplicate(url: str, spec: StudySpec) -> results.StudyRow | None:
    """The newest stored study whose spec is ``spec`` (the name included), or ``None``.

    Only studies of the same name are read (the name is indexed); each stored spec is
    validated again so that one stored before a field got its default still compares equal.
    Deleted studies are gone from the store, so they never count.
    """
    document = canonical_spec(spec)
    for row in results.list_studies(url, name=spec.name, limit=1000).items:
        stored = row.spec
        if stored != document:
            try:
                stored = canonical_spec(spec_of(stored))
            except ValueError:  # a spec this version no longer reads: not the same
                continue
        if stored == document:
            found: results.StudyRow = row
            return found
    return None


def replayed_submission(url: str, spec: StudySpec, idempotency_key: str | None
                        ) -> Submission | None:
    """The study an earlier request with this ``Idempotency-Key`` created, or ``None``.

    Raises:
        IdempotencyKeyError: If the key was used for another spec, or its study was deleted.

    """
    if not idempotency_key:
        return None
    data = results.load_artifact(url, _key_record(idempotency_key))
    if data is None:
        return None
    record = json.loads(data)
    if record["spec"] != _spec_digest(canonical_spec(spec)):
        raise IdempotencyKeyError(
            f"this Idempotency-Key was used for another spec (study {record['study_id']})",
            field="Idempotency-Key", expected="a new key for a new spec")
    row = results.get_study(url, int(record["study_id"]))
    if row is None:
        raise IdempotencyKeyError(
            f"the study this Idempotency-Key created ({record['study_id']}) was deleted",
            field="Idempotency-Key", expected="a new key to submit the spec again")
    return Submission(row, replayed=True)


def submit_study(url: str, spec: StudySpec, *, idempotency_key: str | None = None
                 ) -> Submission:
    """Store a checked spec (``prepare_submission``) as a queued study.

    With an ``Idempotency-Key`` the study is recorded under it: a repeated request with the
    same key and spec gets the same study back (:func:`replayed_submission`), also when two
    such requests race. Without one, a spec equal to a stored study's is stored again, and
    ``duplicate_of`` names the older study so the submitter is told.

    Raises:
        IdempotencyKeyError: If the key was used for another spec, or its study was deleted.

    """
    replay = replayed_submission(url, spec, idempotency_key)
    if replay is not None:
        return replay
    duplicate = find_duplicate(url, spec)
    document = canonical_spec(spec)
    row = results.create_study(url, name=spec.name, spec=document,
                               n_trials=spec.budget.n_trials, network=network_name(spec))
    if idempotency_key:
        record = json.dumps({"study_id": row.id, "spec": _spec_digest(document)})
        try:
            results.save_artifact(url, _key_record(idempotency_key), IDEMPOTENCY_KIND,
                                  record.encode())
        except Exception:  # the same key, stored at the same instant by another request
            if results.load_artifact(url, _key_record(idempotency_key)) is None:
                raise
        try:
            winner = replayed_submission(url, spec, idempotency_key)
        except IdempotencyKeyError:  # a racing request with another spec took the key
            _withdraw(url, row.id)
            raise
        if winner is not None and winner.row.id != row.id:  # a racing request won
            _withdraw(url, row.id)
            return winner
    return Submission(row, duplicate_of=None if duplicate is None else duplicate.id)
