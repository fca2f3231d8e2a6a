//! `CreateStoreImageTask` as the embedded endpoint checks it: the parameters the service
//! requires, then their form, with the codes EC2 answers.

use super::protocol::{Ec2Error, Params};
use crate::task::{is_ami_id, is_bucket_name};

/// A validated `CreateStoreImageTask` request.
#[derive(Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub image_id: String,
    pub bucket: String,
}

impl CreateRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let required = |name: &str| {
            p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                Ec2Error::new(400, "MissingParameter", format!("The request must contain the parameter {name}"))
            })
        };
        let (ami, bucket) = (required("ImageId")?, required("Bucket")?);
        if !is_ami_id(ami) {
            return Err(Ec2Error::new(400, "InvalidAMIID.Malformed", format!("Invalid id: \"{ami}\"")));
        }
        if !is_bucket_name(bucket) {
            return Err(Ec2Error::new(
                400,
                "InvalidParameterValue",
                format!("The bucket name '{bucket}' is not valid."),
            ));
        }
        Ok(Self { image_id: ami.to_string(), bucket: bucket.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(q: &str) -> &'static str {
        CreateRequest::from_params(&Params::parse(q.as_bytes())).unwrap_err().code
    }

    #[test]
    fn a_missing_required_parameter_is_missing_parameter() {
        assert_eq!(code("Bucket=my-bucket"), "MissingParameter");
        assert_eq!(code("ImageId=ami-12345678"), "MissingParameter");
        assert_eq!(code(""), "MissingParameter");
        // Present but malformed keeps its own code.
        assert_eq!(code("ImageId=ami-1&Bucket=my-bucket"), "InvalidAMIID.Malformed");
        assert_eq!(code("ImageId=ami-12345678&Bucket=B"), "InvalidParameterValue");
        let ok = CreateRequest::from_params(&Params::parse(b"ImageId=ami-12345678&Bucket=my-bucket")).unwrap();
        assert_eq!(ok, CreateRequest { image_id: "ami-12345678".into(), bucket: "my-bucket".into() });
    }
}
