"""bench/pyspy_shares.py: a py-spy raw stack goes to the stage whose project frame is deepest, to Beam when Beam
frames lie between that frame and the leaf, to setup under a DoFn.setup; nested process labels are stripped."""

from bench.pyspy_shares import classify, read_raw

ROOT = ["_run_module_as_main (<frozen runpy>)", "main (/repo/pipelines/distant_supervision.py)",
        "Pipeline.run (/venv/site-packages/apache_beam/pipeline.py)",
        "BundleProcessor.process_bundle (/venv/site-packages/apache_beam/runners/worker/bundle_processor.py)"]


def test_deepest_project_frame_names_the_stage():
    stack = [*ROOT, "_ValidateFn.process (/repo/pipelines/validate.py)",
             "Receiver.receive (/venv/site-packages/apache_beam/runners/worker/operations.py)",
             "_TokenizeFn.process (/repo/pipelines/tokenize.py)",
             "Language.make_doc (/venv/site-packages/spacy/language.py)"]
    assert classify(stack) == "tokenize"


def test_beam_below_the_stage_is_beam():
    stack = [*ROOT, "_ValidateFn.process (/repo/pipelines/validate.py)",
             "Receiver.receive (/venv/site-packages/apache_beam/runners/worker/operations.py)"]
    assert classify(stack).startswith("Beam framework")
    coder = [*stack, "PickleCoder.decode (/venv/site-packages/apache_beam/coders/coders.py)"]
    assert classify(coder) == "Beam framework: coders"


def test_setup_imports_and_launcher():
    setup = [*ROOT, "_LinkFn.setup (/repo/pipelines/link.py)",
             "AliasMatcher.__init__ (/repo/pipelines/alias_matcher.py)"]
    assert classify(setup).startswith("setup")
    imports = ["<module> (/repo/pipelines/distant_supervision.py)", "_find_and_load (<frozen importlib._bootstrap>)"]
    assert classify(imports) == "imports / process start"
    assert classify(ROOT[:2]).startswith("launcher")
    assert classify(ROOT).startswith("Beam framework")


def test_read_raw_strips_nested_process_labels(tmp_path):
    raw = tmp_path / "prof.txt"
    raw.write_text('process 1:"python -m pipelines.distant_supervision";process 2:"/bin/sh -c python -m '
                   'apache_beam.runners.worker.sdk_worker_main";process 3:"python -m apache_beam.runners.worker.'
                   'sdk_worker_main";f (/repo/pipelines/label.py) 7\n'
                   'process 1:"python -m pipelines.distant_supervision";g (/repo/pipelines/link.py) 3\n')
    rows = list(read_raw(str(raw)))
    assert [(p.split(":")[0], f, n) for p, f, n in rows] == [
        ("process 3", ["f (/repo/pipelines/label.py)"], 7), ("process 1", ["g (/repo/pipelines/link.py)"], 3)]
