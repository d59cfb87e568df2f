"""Optuna is told only through its public API, and reads back what the engine stored."""

from __future__ import annotations

import re
from pathlib import Path

import optuna

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._codec import ParameterCodec
from epim.search._optuna import TrialBook, replayable
from epim.search._strategy import Proposal, Told
from epim.search.executors import LocalExecutor

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_writes_optunas_attribute_keys() -> None:
    """The constraint and generation keys are Optuna's: only Optuna writes them."""
    pattern = re.compile(r"constraints:c[{\d]|Sampler:generation")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "epim").rglob("*.py")
                 if pattern.search(path.read_text())]
    assert offenders == []


def test_trials_asked_together_share_a_generation_as_nsga2_counts_them() -> None:
    spec = StudySpec.model_validate({"name": "book", "network": "resnet20",
                                     "objectives": [{"metric": "crossbar_area_m2"}]})
    codec = ParameterCodec(prepare_study(spec).space, "categorical")
    choices = prepare_study(spec).space.uniform_choices()
    sampler = optuna.samplers.NSGAIISampler(population_size=2, seed=0)
    book = TrialBook(sampler, ["minimize"], codec)
    first = [book.ask_fixed(codec.from_values(v)) for v in choices[:3]]  # asked together
    for j, trial in enumerate(first):
        attrs = book.tell(trial, Told(Proposal(values={}, params={}, source="t"),
                                      [float(j)], [0.5 - j], {}))
        # the state Optuna wrote while the trial ran, to store; the queue's copy of the
        # parameters is not (the stored trial holds them once, as its params)
        assert attrs == {k: v for k, v in book.study.get_trials(deepcopy=False)[j]
                         .system_attrs.items() if k != "fixed_params"} and len(attrs) == 2
    later = book.ask_fixed(codec.from_values(choices[3]))
    frozen = book.study.get_trials(deepcopy=False)
    generations = [sampler.get_trial_generation(book.study, t) for t in frozen]
    assert generations == [0, 0, 0, 1]  # a full population asked: the next is generation 1
    assert [t.constraints for t in frozen[:3]] == [{"c0": 0.5}, {"c0": -0.5}, {"c0": -1.5}]
    assert later.number == 3


def test_stored_trials_replay_with_their_constraints_and_generations() -> None:
    spec = StudySpec.model_validate({
        "name": "replay", "network": "resnet20",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 2}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
        "budget": {"n_trials": 24}, "batch_size": 4})
    study = prepare_study(spec)
    store = MemoryStore()
    StudyDriver(study, store=store, executor=LocalExecutor()).run()
    records = store.study.records
    references = sum(1 for r in records if r.source == "reference")
    assert len(records) == 24 and 0 < references < 20
    codec = ParameterCodec(study.space, spec.sampler.parameter_encoding)
    replayed = replayable(records, codec)
    assert len(replayed) == len(records)
    for record, trial in zip(records, replayed, strict=True):
        assert list(trial.constraints.values()) == record.constraints
    sampler = optuna.samplers.NSGAIISampler(population_size=4)
    book = optuna.create_study(directions=study.directions, sampler=sampler)
    book.add_trials(replayed)
    generations = [sampler.get_trial_generation(book, t) for t in book.get_trials()]
    # the references are the first generation, asked together; the sampler breeds on
    assert generations[:references] == [0] * references
    assert generations == sorted(generations) and generations[-1] >= 1
