//! Embedded static files: the OpenAPI document, Swagger UI and the dashboard.
//! (Interim version; the dashboard and Swagger UI arrive with the UI work.)

/// A static file compiled into the binary.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

pub fn openapi() -> Asset {
    Asset {
        body: b"{}",
        content_type: "application/json",
        cache_control: "no-cache",
    }
}

pub fn dashboard_asset(_path: &str) -> Option<Asset> {
    None
}

pub fn swagger_asset(_rest: &str) -> Option<Asset> {
    None
}
