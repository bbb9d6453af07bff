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
        namespace_field_table(&descriptors),
    )?;
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
