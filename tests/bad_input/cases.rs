//! The rows of the bad-input suite. `setup` damages a fresh home (the tiny fixture,
//! prepared as `ml-100k`) and returns the command's arguments; `expect` are pieces the
//! error must contain (`{home}` stands for the home folder).

use std::fs;
use std::path::Path;

use super::home::tiny_hf_folder;

pub struct Case {
    pub name: &'static str,
    pub needs_real_model: bool,
    pub setup: fn(&Path) -> Vec<String>,
    pub expect: &'static [&'static str],
    /// Standard output is `/dev/full` (every write fails: a full disk).
    pub stdout_full: bool,
}

fn case(
    name: &'static str,
    setup: fn(&Path) -> Vec<String>,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        needs_real_model: false,
        setup,
        expect,
        stdout_full: false,
    }
}

fn real(mut c: Case) -> Case {
    c.needs_real_model = true;
    c
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `r2ec generate` on the model at `model` (one token: the load is what is tested).
fn generate(model: &Path) -> Vec<String> {
    let mut a = args(&[
        "generate",
        "--prompt",
        "hi",
        "--max-new-tokens",
        "1",
        "--model",
    ]);
    a.push(p(model));
    a
}

fn real_gguf(h: &Path) -> Vec<u8> {
    fs::read(h.join("assets/models").join(crate::support::model::SMOLLM2)).unwrap()
}

const ITEM_HEADER: &str =
    "item_id:token\tmovie_title:token_seq\trelease_year:float\tgenre:token_seq\n";
const INTER_HEADER: &str = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n";

/// Raw `ml-1m` files (prepared with `r2ec data prepare ml-1m`).
fn raw_ml1m(h: &Path, inter: &[u8], item: &[u8]) -> Vec<String> {
    let dir = h.join("datasets/raw/ml-1m");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ml-1m.inter"), inter).unwrap();
    fs::write(dir.join("ml-1m.item"), item).unwrap();
    args(&["data", "prepare", "ml-1m"])
}

fn good_items() -> String {
    format!("{ITEM_HEADER}m1\tToy Story (1995)\t1995\tAnimation\nm2\tHeat (1995)\t1995\tAction\nm3\tJumanji (1995)\t1995\tAdventure\n")
}

/// `r2ec recommend` for a history file with `text`.
fn history(h: &Path, text: &[u8]) -> Vec<String> {
    let f = h.join("history.json");
    fs::write(&f, text).unwrap();
    let mut a = args(&["recommend", "--max-new-tokens", "1", "--history"]);
    a.push(p(&f));
    a
}

/// An annotation set `s` opened from an evaluation's examples.
fn annotation_set(h: &Path) {
    let ex = h.join("examples.jsonl");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&format!(
            "{{\"index\":{i},\"reasoning\":\"The user likes drama {i}.\",\"rank\":{},\"target\":{{\"item_id\":\"m1\",\"title\":\"Toy Story\"}},\"top\":[]}}\n",
            i + 1
        ));
    }
    fs::write(&ex, text).unwrap();
    let out = crate::support::bin::cmd(h, ["annotate", "open", "--name", "s", "--from"])
        .arg(&ex)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn cases() -> Vec<Case> {
    vec![
        // ---- model files ----
        case(
            "gguf wrong magic",
            |h| {
                let f = h.join("model.gguf");
                fs::write(&f, b"NOPE\x03\x00\x00\x00 and then some bytes").unwrap();
                generate(&f)
            },
            &["model.gguf", "not a GGUF file"],
        ),
        case(
            "gguf empty file",
            |h| {
                let f = h.join("empty.gguf");
                fs::write(&f, b"").unwrap();
                generate(&f)
            },
            &["empty.gguf"],
        ),
        real(case(
            "gguf truncated in the tensor data",
            |h| {
                let f = h.join("cut.gguf");
                fs::write(&f, &real_gguf(h)[..4 << 20]).unwrap();
                generate(&f)
            },
            &["cut.gguf", "truncated"],
        )),
        real(case(
            "gguf truncated in the header",
            |h| {
                let f = h.join("head.gguf");
                fs::write(&f, &real_gguf(h)[..40_000]).unwrap();
                generate(&f)
            },
            &["head.gguf"],
        )),
        case(
            "model path missing",
            |h| generate(&h.join("nope.gguf")),
            &["nope.gguf"],
        ),
        case(
            "model folder empty",
            |h| {
                let d = h.join("emptymodel");
                fs::create_dir_all(&d).unwrap();
                generate(&d)
            },
            &["emptymodel", "config.json"],
        ),
        case(
            "model folder without tokenizer",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                fs::remove_file(d.join("tokenizer.json")).unwrap();
                generate(&d)
            },
            &["tokenizer.json"],
        ),
        case(
            "model folder without config",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                fs::remove_file(d.join("config.json")).unwrap();
                generate(&d)
            },
            &["config.json"],
        ),
        case(
            "model config with a syntax error",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                fs::write(
                    d.join("config.json"),
                    "{\n  \"model_type\": \"llama\",\n  oops\n}\n",
                )
                .unwrap();
                generate(&d)
            },
            &["config.json:3"],
        ),
        case(
            "model config with a bad field",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                let c = fs::read_to_string(d.join("config.json")).unwrap();
                fs::write(
                    d.join("config.json"),
                    c.replace("\"hidden_size\":32", "\"hidden_size\":\"big\""),
                )
                .unwrap();
                generate(&d)
            },
            &["config.json", "hidden_size"],
        ),
        case(
            "model of an unknown architecture",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                let c = fs::read_to_string(d.join("config.json")).unwrap();
                fs::write(d.join("config.json"), c.replace("\"llama\"", "\"mamba\"")).unwrap();
                generate(&d)
            },
            &["config.json", "mamba"],
        ),
        case(
            "model weights missing a tensor",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, Some("model.norm.weight"), None);
                generate(&d)
            },
            &["model.norm.weight"],
        ),
        case(
            "model weights with a wrong shape",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, Some("model.layers.0.self_attn.q_proj.weight"));
                generate(&d)
            },
            &["model.layers.0.self_attn.q_proj.weight", "shape"],
        ),
        case(
            "model weights file not safetensors",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                fs::write(
                    d.join("model.safetensors"),
                    b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}",
                )
                .unwrap();
                generate(&d)
            },
            &["model.safetensors"],
        ),
        case(
            "tokenizer file corrupt",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                fs::write(d.join("tokenizer.json"), "{").unwrap();
                generate(&d)
            },
            &["tokenizer.json"],
        ),
        case(
            "adapter for another model",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("assets/checkpoints/r2ec-smollm2-135m-ml100k-cpu");
                let a = h.join("adapter");
                fs::create_dir_all(&a).unwrap();
                for f in ["adapter_config.json", "adapter_model.safetensors"] {
                    fs::copy(src.join(f), a.join(f)).unwrap();
                }
                let mut v = generate(&d);
                v.extend(["--adapter".into(), p(&a)]);
                v
            },
            &["adapter"],
        ),
        case(
            "adapter without its config",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                let a = h.join("adapter");
                fs::create_dir_all(&a).unwrap();
                fs::write(a.join("adapter_model.safetensors"), b"").unwrap();
                let mut v = generate(&d);
                v.extend(["--adapter".into(), p(&a)]);
                v
            },
            &["adapter_config.json"],
        ),
        case(
            "adapter config with a syntax error",
            |h| {
                let d = h.join("m");
                tiny_hf_folder(&d, None, None);
                let a = h.join("adapter");
                fs::create_dir_all(&a).unwrap();
                fs::write(
                    a.join("adapter_config.json"),
                    "{\n \"r\": 8,\n \"lora_alpha\": ,\n}",
                )
                .unwrap();
                fs::write(a.join("adapter_model.safetensors"), b"").unwrap();
                let mut v = generate(&d);
                v.extend(["--adapter".into(), p(&a)]);
                v
            },
            &["adapter_config.json", "line 3"],
        ),
        // ---- data ----
        case(
            "interactions with a missing field",
            |h| {
                let inter = format!("{INTER_HEADER}u1\tm1\t5\t100\nu1\tm2\n");
                raw_ml1m(h, inter.as_bytes(), good_items().as_bytes())
            },
            &["ml-1m.inter:3", "field `rating`"],
        ),
        case(
            "interactions with a wrong header",
            |h| {
                let inter = "user\titem\trating\ttime\nu1\tm1\t5\t100\n";
                raw_ml1m(h, inter.as_bytes(), good_items().as_bytes())
            },
            &["ml-1m.inter:1", "header"],
        ),
        case(
            "interactions with a rating that is not a number",
            |h| {
                let inter = format!("{INTER_HEADER}u1\tm1\tfive\t100\n");
                raw_ml1m(h, inter.as_bytes(), good_items().as_bytes())
            },
            &["ml-1m.inter:2", "field `rating`"],
        ),
        case(
            "interactions with a timestamp that is not a number",
            |h| {
                let inter = format!("{INTER_HEADER}u1\tm1\t5\tyesterday\n");
                raw_ml1m(h, inter.as_bytes(), good_items().as_bytes())
            },
            &["ml-1m.inter:2", "field `timestamp`"],
        ),
        case(
            "interactions file empty",
            |h| raw_ml1m(h, b"", good_items().as_bytes()),
            &["ml-1m.inter"],
        ),
        case(
            "items file not UTF-8",
            |h| {
                let mut item = ITEM_HEADER.as_bytes().to_vec();
                item.extend(b"m1\tToy \xff\xfe Story (1995)\t1995\tAnimation\n");
                let inter = format!("{INTER_HEADER}u1\tm1\t5\t100\n");
                raw_ml1m(h, inter.as_bytes(), &item)
            },
            &["ml-1m.item:2", "field `movie_title`", "UTF-8"],
        ),
        case(
            "items file with only a header",
            |h| {
                let inter = format!("{INTER_HEADER}u1\tm1\t5\t100\n");
                raw_ml1m(h, inter.as_bytes(), ITEM_HEADER.as_bytes())
            },
            &["ml-1m"],
        ),
        case(
            "a line of 20 MB",
            |h| {
                let mut inter = INTER_HEADER.to_string();
                inter.push_str("u1\tm1\t5\t");
                inter.push_str(&"9".repeat(20 << 20));
                inter.push('\n');
                raw_ml1m(h, inter.as_bytes(), good_items().as_bytes())
            },
            &["ml-1m.inter:2", "(20971520 bytes)"],
        ),
        case(
            "raw data set missing",
            |_| args(&["data", "prepare", "ml-1m"]),
            &["ml-1m", "r2ec setup"],
        ),
        case(
            "prepared examples with a corrupt line",
            |h| {
                let f = h.join("datasets/ml-100k/test.jsonl");
                let text = fs::read_to_string(&f).unwrap();
                fs::write(&f, format!("{{\"user_id\": oops\n{text}")).unwrap();
                args(&[
                    "recommend",
                    "--split",
                    "test",
                    "--index",
                    "0",
                    "--model",
                    "nope.gguf",
                ])
            },
            &["test.jsonl", "line 1"],
        ),
        case(
            "prepared items cut short",
            |h| {
                let f = h.join("datasets/ml-100k/items.jsonl");
                let text = fs::read_to_string(&f).unwrap();
                fs::write(&f, &text[..text.len() - 10]).unwrap();
                args(&[
                    "recommend",
                    "--split",
                    "test",
                    "--index",
                    "0",
                    "--model",
                    "nope.gguf",
                ])
            },
            &["items.jsonl"],
        ),
        case(
            "prepared statistics corrupt",
            |h| {
                fs::write(h.join("datasets/ml-100k/stats.json"), "{\"items\": [").unwrap();
                args(&[
                    "recommend",
                    "--split",
                    "test",
                    "--index",
                    "0",
                    "--model",
                    "nope.gguf",
                ])
            },
            &["stats.json"],
        ),
        case(
            "history with a syntax error",
            |h| {
                history(h, b"{\"history\": [\n  {\"item_id\": \"m1\", \"rating\": 5, \"timestamp\": 1},\n  {\"item_id\": }\n]}")
            },
            &["history.json:3"],
        ),
        case(
            "history with an unknown item",
            |h| {
                history(
                    h,
                    br#"{"history": [{"item_id": "m99", "rating": 4, "timestamp": 10}]}"#,
                )
            },
            &["history.json", "m99"],
        ),
        case(
            "history empty",
            |h| history(h, br#"{"history": []}"#),
            &["history.json", "field `history`", "empty"],
        ),
        case(
            "history not UTF-8",
            |h| {
                history(
                    h,
                    b"{\"history\": [{\"item_id\": \"m\xff\", \"rating\": 4, \"timestamp\": 1}]}",
                )
            },
            &["history.json:1:28", "invalid UTF-8"],
        ),
        // ---- sessions ----
        case(
            "annotation log corrupt in the middle",
            |h| {
                annotation_set(h);
                let log = h.join("sessions/annotations/s/alice.jsonl");
                fs::write(&log, "{\"chain\":\"ex0\",\"tags\":[],\"time\":1}\n{\"chain\": garbage}\n{\"chain\":\"ex1\",\"tags\":[],\"time\":2}\n").unwrap();
                args(&["annotate", "stats", "--set", "s"])
            },
            &["alice.jsonl", "line 2"],
        ),
        case(
            "annotation set file corrupt",
            |h| {
                annotation_set(h);
                fs::write(h.join("sessions/annotations/s/chains.jsonl"), "{\"id\":\n").unwrap();
                args(&["annotate", "stats", "--set", "s"])
            },
            &["chains.jsonl", "line 1"],
        ),
        case(
            "evaluation report half-written",
            |h| {
                let d = h.join("sessions/eval/x");
                fs::create_dir_all(&d).unwrap();
                fs::write(
                    d.join("report.json"),
                    "{\"method\": \"popular\", \"hit@10\": 0.",
                )
                .unwrap();
                let mut v = args(&["eval", "--compare"]);
                v.push(p(&d));
                v
            },
            &["sessions/eval/x/report.json"],
        ),
        case(
            "output into a read-only folder",
            |h| {
                let out = read_only_target(h);
                let mut v = args(&["eval", "--baseline", "popular", "--split", "test", "--out"]);
                v.push(out);
                v
            },
            &["r2ec-read-only/report"],
        ),
        Case {
            stdout_full: true,
            ..case(
                "standard output on a full disk",
                |_| args(&["eval", "--baseline", "popular", "--split", "test", "--json"]),
                &["standard output", "No space left on device"],
            )
        },
        // ---- command line ----
        case(
            "unknown subcommand",
            |_| args(&["frobnicate"]),
            &["frobnicate"],
        ),
        case(
            "unknown split",
            |_| args(&["recommend", "--split", "later", "--index", "0"]),
            &["unknown split `later`"],
        ),
        case(
            "example index out of range",
            |_| {
                args(&[
                    "recommend",
                    "--split",
                    "test",
                    "--index",
                    "999",
                    "--model",
                    "nope.gguf",
                ])
            },
            &["999"],
        ),
        case(
            "unknown user",
            |_| args(&["recommend", "--user", "nobody", "--model", "nope.gguf"]),
            &["nobody"],
        ),
        case(
            "data set name escaping its folder",
            |_| {
                args(&[
                    "recommend",
                    "--data",
                    "../../etc",
                    "--split",
                    "test",
                    "--index",
                    "0",
                ])
            },
            &["../../etc"],
        ),
        case(
            "annotation set name escaping its folder",
            |h| {
                let ex = h.join("examples.jsonl");
                fs::write(&ex, "").unwrap();
                let mut v = args(&["annotate", "open", "--name", "../../outside", "--from"]);
                v.push(p(&ex));
                v
            },
            &["../../outside"],
        ),
        case(
            "evaluation name escaping its folder",
            |_| {
                args(&[
                    "eval",
                    "--baseline",
                    "popular",
                    "--split",
                    "test",
                    "--name",
                    "../../outside",
                ])
            },
            &["../../outside"],
        ),
        case(
            "number argument that is not a number",
            |_| args(&["recommend", "--max-new-tokens", "many"]),
            &["--max-new-tokens", "many"],
        ),
        case(
            "keymap with a syntax error",
            |h| {
                fs::write(h.join("keys.toml"), "[keys]\nquit = [\"q\"\n").unwrap();
                args(&["tui", "--keys", "keys.toml"])
            },
            &["keys.toml", "line 2"],
        ),
        case(
            "keymap with an unknown action",
            |h| {
                fs::write(h.join("keys.toml"), "[keys]\nfly = [\"f\"]\n").unwrap();
                args(&["tui", "--keys", "keys.toml"])
            },
            &["keys.toml", "fly"],
        ),
        real(case(
            "training into a run folder without --resume",
            |h| {
                let run = h.join("runs/a");
                fs::create_dir_all(&run).unwrap();
                fs::write(run.join("metrics.jsonl"), "{\"step\":1}\n").unwrap();
                fs::write(run.join("config.json"), "{}").unwrap();
                args(&[
                    "train",
                    "--out",
                    "runs/a",
                    "--steps",
                    "1",
                    "--eval-every",
                    "0",
                ])
            },
            &["runs/a", "--resume"],
        )),
        case(
            "resuming a run that has no config",
            |h| {
                fs::create_dir_all(h.join("runs/b")).unwrap();
                args(&[
                    "train",
                    "--out",
                    "runs/b",
                    "--resume",
                    "--model",
                    "nope.gguf",
                ])
            },
            &["runs/b/config.json"],
        ),
    ]
}

/// A folder the program may not write into. chmod does not stop root, so as root the
/// target is under `/proc`, where nobody can create files.
fn read_only_target(h: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    if nix::unistd::geteuid().is_root() {
        return "/sys/r2ec-read-only/report".into();
    }
    let ro = h.join("ro");
    fs::create_dir_all(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    p(&ro.join("report"))
}
