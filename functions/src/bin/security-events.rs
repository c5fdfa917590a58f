//! The security-events function, triggered by the table's DynamoDB stream
//! (`latchkey::stream`).

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::stream_main()
}
