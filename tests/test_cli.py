import pytest

from synesthesia.cli import build_parser, main


def test_every_command_explains_every_option(capsys):
    commands = [[], ["train"], ["generate"], ["quickstart"], ["world"], ["world", "make"],
                ["world", "export"], ["world", "show"], ["config", "show"], ["cycle"], ["evaluate"],
                ["expander"], ["gallery"]]
    for cmd in commands:
        with pytest.raises(SystemExit) as exit_:
            main(cmd + ["--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "usage: synesthesia" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    parsers = list(sub.choices.items())
    while parsers:
        name, p = parsers.pop()
        undocumented = [a.dest for a in p._actions if a.help is None and a.dest != "help"
                        and not a.dest.endswith("command")]
        assert not undocumented, (name, undocumented)
        for a in p._actions:
            if a.dest.endswith("command") and a.choices:
                parsers += [(f"{name} {k}", v) for k, v in a.choices.items()]


def test_errors_are_one_line_with_status_2_and_bugs_status_1(tmp_path, tiny_run, capsys, monkeypatch):
    for bad in (["--n", "2.5"], ["--seed", str(2 ** 70)], ["--n", "0"]):
        with pytest.raises(SystemExit) as exit_:
            main(["generate", str(tiny_run), "--to", "image", "--text", "a star", "--out", str(tmp_path / "o"), *bad])
        assert exit_.value.code == 2
    assert main(["train", "quickstart", "--set", "train.batch_size=6.5", "--out", str(tmp_path / "r")]) == 2
    assert "train.batch_size must be an integer" in capsys.readouterr().err
    for value, message in (("nan", "finite"), ("inf", "finite"), ("true", "must be a number"), ("-1", "positive")):
        assert main(["config", "show", "quickstart", "--set", f"train.lr={value}"]) == 2
        assert message in capsys.readouterr().err
    assert main(["config", "show", "quickstart", "--set", "train.max_minutes=-1"]) == 2
    assert main(["config", "show", "quickstart", "--set", "modalities.imgae.size=32"]) == 2
    assert "did you mean 'image'" in capsys.readouterr().err
    import synesthesia.cli.config as config_cli

    monkeypatch.setattr(config_cli, "cmd_show", lambda args: 1 / 0)
    capsys.readouterr()
    assert main(["config", "show", "quickstart"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "config", "show", "quickstart"])


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

    from synesthesia.world.judges.oracles import OracleTraining, get_oracle

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
    with pytest.raises(SystemExit) as exit_:
        main(["generate", str(tiny_run), "--to", "image", "--text", "a star", "--sampler", "nuts", "-o", str(out)])
    assert exit_.value.code == 2
    assert "invalid choice: 'nuts'" in capsys.readouterr().err
    assert main(["generate", str(tiny_run), "--to", "image", "--text", "a star", "--steps", "4", "-o", str(out)]) == 2
    assert "steps and chains are MCMC options" in capsys.readouterr().err


def test_quickstart_end_to_end_at_a_tiny_size(tmp_path, capsys):
    """The quickstart's whole path: the preset trains a fixed number of steps, the figure is
    measured, and the text→image grid and the gallery of every direction are written."""
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--no-progress", "--eval-n", "10",
                 "--set", "train.max_steps=2", "--set", "data.n_train=64", "--set", "data.n_val=16"]) == 0
    printed = capsys.readouterr().out
    assert "for 2 steps" in printed and "image→text exact-attribute accuracy on 10 test images" in printed
    for name in ("gallery.html", "text_to_image.png", "model.safetensors", "config.yaml"):
        assert (out / name).is_file(), name
    page = (out / "gallery.html").read_text()
    for direction in ("text → image", "image → text", "audio → image", "text → video", "image → audio",
                      "joint samples"):
        assert direction in page, direction
    assert "<video" in page and "<audio" in page
    assert all((out / src).is_file() for src in __import__("re").findall(r'src="(gallery/[^"]+)"', page))
    assert main(["quickstart", "--out", str(out), "--no-progress"]) == 2     # a trained run is never replaced
    assert "holds a run" in capsys.readouterr().err
