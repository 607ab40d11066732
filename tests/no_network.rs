//! `build`, `check` and the Argo CD plugin never use the network (docs/security.md): the only
//! code that opens a connection is `src/cluster/`, reached only from `diff --cluster`,
//! `check --live` and `import --cluster`. Held
//! twice: by the source (nothing else names the cluster module or a socket type), and by
//! running the commands with every way a client would find a server (kubeconfig, proxies)
//! pointing at a listener that must receive no connection.

use crate::common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use common::{root, scratch_copy};

/// Rust source files under `dir`, as paths relative to the crate root.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_cluster_options_reach_the_network_module() {
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    assert!(files.len() > 20);
    let socket_apis = ["TcpStream", "TcpListener", "UdpSocket", "tokio::net", "hyper::", "reqwest", "kube::"];
    for f in files {
        let rel = f.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("src/cluster/") {
            continue;
        }
        // Code only: comments may name the module.
        let text: String = fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        for api in socket_apis {
            assert!(!text.contains(api), "{rel} uses `{api}`: only src/cluster/ may open connections");
        }
        if text.contains("crate::cluster") || text.contains("meshgen::cluster") {
            assert!(
                ["src/cli/diff.rs", "src/cli/import.rs", "src/cli/live.rs"].contains(&rel.as_str()),
                "{rel} reaches src/cluster/: only `diff --cluster`, `check --live` and `import --cluster` may"
            );
        }
    }
}

#[test]
fn build_check_and_the_plugin_connect_to_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tmp = scratch_copy(&root());
    let kubeconfig = tmp.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: trap\nclusters: [{{name: trap, cluster: {{server: '{url}'}}}}]\n\
             contexts: [{{name: trap, context: {{cluster: trap, user: trap}}}}]\nusers: [{{name: trap, user: {{token: t}}}}]\n"
        ),
    )
    .unwrap();
    let runs: [&[&str]; 4] = [&["build"], &["build", "--stdout"], &["check"], &["argocd", "generate"]];
    for args in runs {
        let out = common::command()
            .args(args)
            .current_dir(tmp.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .envs(
                ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"].map(|k| (k, &url)),
            )
            .env("ARGOCD_APP_NAME", "mesh")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(listener.accept().is_err(), "{args:?} connected to the kubeconfig's server or a proxy");
    }
}
