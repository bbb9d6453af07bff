//! Generates the gRPC server traits for the services Temper serves from the descriptor set
//! that `temporalio-protos` exports, so message types are that crate's own (no copied .proto files).
use prost::Message;
use std::{env, path::PathBuf};

const SERVED: &[(&str, &str)] = &[
    ("temporal.api.workflowservice.v1", "WorkflowService"),
    ("temporal.api.operatorservice.v1", "OperatorService"),
    ("temporal.api.testservice.v1", "TestService"),
    ("grpc.health.v1", "Health"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptor_path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")?;
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={descriptor_path}");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let bytes = std::fs::read(&descriptor_path)?;
    std::fs::write(out_dir.join("temporal_descriptors.bin"), &bytes)?;
    let mut descriptors = prost_types::FileDescriptorSet::decode(&*bytes)?;
    std::fs::write(
        out_dir.join("namespace_fields.rs"),
        namespace_field_table(&descriptors) + &target_field_table(&descriptors),
    )?;
    std::fs::write(out_dir.join("http_routes.rs"), http_route_table()?)?;
    descriptors.file.retain_mut(|file| {
        let package = file.package().to_string();
        file.service
            .retain(|service| SERVED.contains(&(package.as_str(), service.name())));
        !file.service.is_empty()
    });
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .generate_default_stubs(true)
        .codec_path("crate::codec::CheckedCodec")
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".grpc", "::temporalio_protos::grpc")
        .extern_path(".google.rpc", "::temporalio_protos::google::rpc")
        .extern_path(".coresdk", "::temporalio_protos::coresdk")
        .compile_fds(descriptors)?;
    compile_temper_protos()
}

/// Temper's own services (`proto/temper/…`), with clients for the `temper` commands.
fn compile_temper_protos() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(["temper/cluster/v1/cluster.proto"], [&root])?;
    // The codec names a message in its errors.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::CheckedCodec")
        .compile_fds_with_config(descriptors, config)?;
    Ok(())
}

/// `fn namespace_field(package, name) -> Option<u32>`: the field number of each message's
/// top-level `namespace` string, so the server can label a request's metrics with its
/// namespace from the raw bytes, whatever the RPC.
fn namespace_field_table(descriptors: &prost_types::FileDescriptorSet) -> String {
    use prost_types::field_descriptor_proto::Type;
    let mut arms = Vec::new();
    for file in &descriptors.file {
        for message in &file.message_type {
            let field = message
                .field
                .iter()
                .find(|f| f.name() == "namespace" && f.r#type() == Type::String);
            if let Some(field) = field {
                arms.push(format!(
                    "        (\"{}\", \"{}\") => Some({}),",
                    file.package(),
                    message.name(),
                    field.number()
                ));
            }
        }
    }
    arms.sort();
    format!(
        "/// The field number of `namespace` in the message `package.name`, if it has one.\n\
         pub fn namespace_field(package: &str, name: &str) -> Option<u32> {{\n    match (package, name) {{\n{}\n        _ => None,\n    }}\n}}\n",
        arms.join("\n")
    )
}

/// Top-level string fields that name what a request acts on, in order of preference.
const TARGET_FIELDS: &[&str] = &[
    "workflow_id",
    "activity_id",
    "schedule_id",
    "job_id",
    "deployment_name",
];
/// Message fields whose `workflow_id` names what a request acts on.
const TARGET_EXECUTIONS: &[&str] = &["workflow_execution", "execution"];

/// `fn target_field(package, name) -> Option<(&str, &[u32])>`: for each message, the name and
/// field path of what it acts on (`workflow_id`, possibly inside `workflow_execution`), so
/// the audit log can name a request's target from its raw bytes, whatever the RPC.
fn target_field_table(descriptors: &prost_types::FileDescriptorSet) -> String {
    use prost_types::field_descriptor_proto::Type;
    let mut arms = Vec::new();
    for file in &descriptors.file {
        for message in &file.message_type {
            let top = TARGET_FIELDS.iter().find_map(|name| {
                message
                    .field
                    .iter()
                    .find(|f| f.name() == *name && f.r#type() == Type::String)
                    .map(|f| (name.to_string(), vec![f.number()]))
            });
            // `WorkflowExecution.workflow_id` is field 1.
            let nested = || {
                TARGET_EXECUTIONS.iter().find_map(|name| {
                    message
                        .field
                        .iter()
                        .find(|f| {
                            f.name() == *name
                                && f.type_name() == ".temporal.api.common.v1.WorkflowExecution"
                        })
                        .map(|f| ("workflow_id".to_string(), vec![f.number(), 1]))
                })
            };
            if let Some((name, path)) = top.or_else(nested) {
                let path: Vec<String> = path.iter().map(|n| n.to_string()).collect();
                arms.push(format!(
                    "        (\"{}\", \"{}\") => Some((\"{name}\", &[{}])),",
                    file.package(),
                    message.name(),
                    path.join(", ")
                ));
            }
        }
    }
    arms.sort();
    format!(
        "/// The name and field path of what the message `package.name` acts on, if known.\n\
         pub fn target_field(package: &str, name: &str) -> Option<(&'static str, &'static [u32])> {{\n    match (package, name) {{\n{}\n        _ => None,\n    }}\n}}\n",
        arms.join("\n")
    )
}

/// The services whose `google.api.http` annotations make Temporal's HTTP API.
const HTTP_SERVICES: &[&str] = &[
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
];

/// `pub const HTTP_ROUTES: &[HttpRoute]`: one row per `google.api.http` binding (additional
/// bindings included) of every RPC in [`HTTP_SERVICES`], in declaration order, so the HTTP
/// API follows the protos as they grow instead of a hand-written list.
fn http_route_table() -> Result<String, Box<dyn std::error::Error>> {
    let pool = annotated_service_protos()?;
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or("the descriptor set lacks google.api.http")?;
    let mut rows = Vec::new();
    for service_name in HTTP_SERVICES {
        let service = pool
            .get_service_by_name(service_name)
            .ok_or_else(|| format!("no service {service_name}"))?;
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            for binding in http_bindings(options.get_extension(&http).as_message()) {
                if let Some((verb, pattern)) = http_verb_and_pattern(&binding) {
                    let body = binding
                        .get_field_by_name("body")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    rows.push(format!(
                        "    HttpRoute {{ verb: {verb:?}, pattern: {pattern:?}, body: {body:?}, \
                         method: \"/{service_name}/{}\", input: {:?}, output: {:?} }},",
                        method.name(),
                        method.input().full_name(),
                        method.output().full_name(),
                    ));
                }
            }
        }
    }
    Ok(format!(
        "/// Every binding of Temporal's HTTP API, from the protos' `google.api.http` options.\n\
         pub const HTTP_ROUTES: &[HttpRoute] = &[\n{}\n];\n",
        rows.join("\n")
    ))
}

/// An `HttpRule` and its `additional_bindings`, in order.
fn http_bindings(
    rule: Option<&prost_reflect::DynamicMessage>,
) -> Vec<prost_reflect::DynamicMessage> {
    let Some(rule) = rule else {
        return Vec::new();
    };
    let mut bindings = vec![rule.clone()];
    let more = rule.get_field_by_name("additional_bindings");
    if let Some(list) = more.as_ref().and_then(|v| v.as_list()) {
        bindings.extend(list.iter().filter_map(|v| v.as_message().cloned()));
    }
    bindings
}

/// The service protos of `temporalio-protos` compiled with their options kept. The
/// descriptor set that crate exports was written through `prost-types`, which drops custom
/// options such as `google.api.http`, so the routes are read from its `.proto` sources,
/// found through `cargo metadata` (offline, from the lock file).
fn annotated_service_protos() -> Result<prost_reflect::DescriptorPool, Box<dyn std::error::Error>> {
    let protos = temporalio_protos_dir()?.join("protos");
    let includes = [protos.join("api_upstream"), protos.clone()];
    for include in &includes {
        println!("cargo:rerun-if-changed={}", include.display());
    }
    let mut compiler = protox::Compiler::new(&includes)?;
    compiler.include_imports(true);
    compiler.open_files([
        "temporal/api/workflowservice/v1/service.proto",
        "temporal/api/operatorservice/v1/service.proto",
    ])?;
    Ok(compiler.descriptor_pool())
}

/// The source directory of the `temporalio-protos` package this build uses.
fn temporalio_protos_dir() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--frozen"])
        .current_dir(env::var("CARGO_MANIFEST_DIR")?)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "temporalio-protos")
        .and_then(|package| package["manifest_path"].as_str())
        .ok_or("cargo metadata lists no temporalio-protos package")?;
    let dir = PathBuf::from(manifest)
        .parent()
        .ok_or("temporalio-protos manifest has no directory")?
        .to_path_buf();
    Ok(dir)
}

/// The verb and path template of one `google.api.HttpRule`.
fn http_verb_and_pattern(rule: &prost_reflect::DynamicMessage) -> Option<(String, String)> {
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            let pattern = rule.get_field_by_name(verb)?.as_str()?.to_string();
            return Some((verb.to_uppercase(), pattern));
        }
    }
    None
}
