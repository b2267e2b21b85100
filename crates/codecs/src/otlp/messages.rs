//! The OTLP logs messages, derived with `prost` from the field numbers and
//! types of opentelemetry-proto's `.proto` files (v1: `common`, `resource`,
//! `logs`, `collector/logs`). They are the definition of the wire format: the
//! decoder for a receiver and for tests, and the reference the sink's
//! streaming encoder ([`super::wire`]) is checked against.
//!
//! ```text
//! collector.logs.v1  ExportLogsServiceRequest  { repeated ResourceLogs resource_logs = 1; }
//!                    ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
//!                    ExportLogsPartialSuccess  { int64 rejected_log_records = 1; string error_message = 2; }
//! logs.v1            ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
//!                    ScopeLogs    { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
//!                    LogRecord    { fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11;
//!                                   SeverityNumber severity_number = 2; string severity_text = 3; AnyValue body = 5;
//!                                   repeated KeyValue attributes = 6; uint32 dropped_attributes_count = 7;
//!                                   fixed32 flags = 8; bytes trace_id = 9; bytes span_id = 10; string event_name = 12; }
//! resource.v1        Resource     { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
//! common.v1          AnyValue     { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
//!                                   double double_value = 4; ArrayValue array_value = 5;
//!                                   KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
//!                    ArrayValue   { repeated AnyValue values = 1; }
//!                    KeyValueList { repeated KeyValue values = 1; }
//!                    KeyValue     { string key = 1; AnyValue value = 2; }
//!                    InstrumentationScope { string name = 1; string version = 2;
//!                                   repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
//! ```

/// `collector.logs.v1.ExportLogsServiceRequest`: the body of `POST /v1/logs`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    /// The records, grouped by the resource that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

/// `collector.logs.v1.ExportLogsServiceResponse`: what a 2xx answer carries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceResponse {
    /// Set when the server refused some records (or has a warning).
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

/// `collector.logs.v1.ExportLogsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsPartialSuccess {
    /// Records the server refused; 0 means everything was taken.
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    /// Why, in English, for the operator.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `logs.v1.ResourceLogs`: the records of one resource.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    /// The resource (service, host, pod...); unset means unknown.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// The records, grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
    /// The schema of the resource's attributes.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `logs.v1.ScopeLogs`: the records of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    /// Who produced the records (for us: the agent).
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The records.
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
    /// The schema of the records' attributes.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `logs.v1.LogRecord`: one log event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    /// When the event happened, ns since the epoch; 0 = unknown.
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// When the collection system saw it, ns since the epoch.
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    /// 1-24 (TRACE..FATAL4, see [`super::severity`]); 0 = unspecified.
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    /// The level as text.
    #[prost(string, tag = "3")]
    pub severity_text: String,
    /// The message (or structured body).
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    /// The event's other fields.
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    /// Attributes left out by the sender.
    #[prost(uint32, tag = "7")]
    pub dropped_attributes_count: u32,
    /// W3C trace flags in the low 8 bits.
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    /// 16 bytes, or empty.
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, or empty.
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    /// The name of an event record, or empty.
    #[prost(string, tag = "12")]
    pub event_name: String,
}

/// `resource.v1.Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// `service.name`, `host.name`, `k8s.pod.name`...
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Attributes left out by the sender.
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

/// `common.v1.InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// The scope's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Its attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Attributes left out by the sender.
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `common.v1.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value; unset means null.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `common.v1.AnyValue`: a typed value; no variant set means null.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// The variants of [`AnyValue`].
pub mod any_value {
    /// `AnyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value = 1`.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// `bool_value = 2`.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// `int_value = 3`.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// `double_value = 4`.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// `array_value = 5`.
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// `kvlist_value = 6`.
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// `bytes_value = 7`.
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `common.v1.ArrayValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `common.v1.KeyValueList`: a map, as a list (keys unique).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    /// The members.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

impl AnyValue {
    /// A string value.
    pub fn string(s: impl Into<String>) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    /// An integer value.
    pub fn int(i: i64) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::IntValue(i)),
        }
    }
}

impl KeyValue {
    /// A `key = value` pair.
    pub fn new(key: impl Into<String>, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
        }
    }
}

/// `google.rpc.Status` without its `details`: the body of an OTLP/HTTP error
/// answer in protobuf, read for its message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong, for the operator.
    #[prost(string, tag = "2")]
    pub message: String,
}
