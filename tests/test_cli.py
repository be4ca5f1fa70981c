import pytest

from synesthesia.cli import build_parser, main


def test_every_command_explains_every_option(capsys):
    commands = [[], ["train"], ["generate"], ["quickstart"], ["world"], ["world", "make"],
                ["world", "export"], ["world", "show"]]
    for cmd in commands:
        with pytest.raises(SystemExit) as exit_:
            main(cmd + ["--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "usage: synesthesia" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        undocumented = [a.dest for a in p._actions if a.help is None and a.dest != "help"
                        and not a.dest.endswith("command")]
        assert not undocumented, (name, undocumented)


def test_train_and_generate_from_the_command_line(tmp_path, tiny_run, capsys):
    out = tmp_path / "gen"
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a big red star", "--n", "2",
                 "--seed", "0", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["image-00.png", "image-01.png"]
    assert main(["generate", str(tiny_run), "--to", "text", "--image", str(out / "image-00.png"),
                 "--n", "1", "-o", str(out)]) == 0
    assert (out / "text-00.txt").read_text().strip()
    assert main(["generate", str(tiny_run), "--to", "audio", "--text", "a star", "--n", "1", "-o", str(out)]) == 0
    assert main(["generate", str(tiny_run), "--to", "video", "--text", "a star", "--n", "1", "-o", str(out)]) == 0
    assert (out / "audio-00.wav").stat().st_size > 1000 and (out / "video-00.gif").stat().st_size > 100
    capsys.readouterr()
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a purple zebra", "-o", str(out)]) == 2
    assert "'zebra'" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing"), "--to", "image", "--text", "a star", "-o", str(out)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_train_command_with_overrides(tmp_path, tiny_run, capsys):
    cfg = tiny_run / "config.yaml"
    assert main(["train", str(cfg), "--set", "train.max_steps=2", "--set", "model.fusion=poe",
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    assert "2 steps" in capsys.readouterr().out
    assert "fusion: poe" in (tmp_path / "r" / "config.yaml").read_text()
    assert main(["train", str(cfg), "--set", "model.fusion=sum", "--out", str(tmp_path / "x")]) == 2
    assert "choose from poe, moe, mopoe" in capsys.readouterr().err


def test_evaluate_command_writes_metrics_and_report(tmp_path, tiny_run, tiny_world, capsys):
    import json

    from synesthesia.evaluation.oracles import OracleTraining, get_oracle

    cache = tmp_path / "oracles"
    for m in ("image", "audio", "video"):
        get_oracle(tiny_world.config, m, cache_dir=cache, training=OracleTraining(n_train=256, epochs=1, n_test=64))
    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_run), "--n", "40", "--out", str(out), "--oracle-cache", str(cache),
                 "--cycle-rounds", "2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["coherence"]) == 28 and len(metrics["cycle"]) == 2
    assert set(metrics["fid"]) == {"image", "audio", "video"}
    assert set(metrics["likelihood"]) >= {"image", "text", "audio", "video", "joint"}
    assert "text->image" in capsys.readouterr().out and (out / "report.html").is_file()


def test_generate_with_an_mcmc_sampler(tmp_path, tiny_run, capsys):
    out = tmp_path / "mc"
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a big red star", "--n", "2",
                 "--sampler", "hmc", "--steps", "4", "--chains", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sampler: sampler hmc" in printed and "acceptance" in printed
    assert len(list(out.glob("image-*.png"))) == 2
    # the aggregate posterior of the run's training data as the prior, fitted on first use
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a big red star", "--n", "2",
                 "--sampler", "hmc", "--steps", "4", "--prior", "aggregate", "-o", str(out)]) == 0
    assert "prior aggregate" in capsys.readouterr().out
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a big red star", "--n", "2",
                 "--sampler", "hmc", "--steps", "4", "--prior", "gmm", "-o", str(out)]) == 0
    assert "prior gmm" in capsys.readouterr().out
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a star", "--sampler", "nuts",
                 "-o", str(out)]) == 2
    assert "choose from ancestral, langevin, mala, hmc" in capsys.readouterr().err
