//! placeholder
use std::process::ExitCode;
pub async fn run(_cli: &crate::cli::Cli, _ec2: crate::ec2::Ec2, _sel: crate::ec2::Selection) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
