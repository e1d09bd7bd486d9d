//! Allo's `page` / `size` pagination for list endpoints: reading the two query parameters
//! (`page` from 1, `size` from 1 to 100, default 20, as the document's `Page` and `Size`
//! parameters say) and rendering the `pagination` object every paginated answer carries.
//! What is listed, and in which order, is each endpoint's business.

use serde_json::{json, Value};

use super::input::Query;
use super::respond::ApiError;

const DEFAULT_SIZE: u64 = 20;
const MAX_SIZE: u64 = 100;

/// One requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub page: u64,
    pub size: u64,
}

impl Page {
    /// `page` below 1 is 400 `INVALID_QUERY_PARAMETER`; `size` outside 1..=100 is 400
    /// `INVALID_PAGE_SIZE`, the code Allo's queue listing documents.
    pub(super) fn from_query(query: &Query) -> Result<Page, ApiError> {
        let page = query.integer("page")?.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::validation("INVALID_QUERY_PARAMETER", "page: must be at least 1").with_param("page"));
        }
        let size = match query.get("size") {
            None => DEFAULT_SIZE,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_SIZE).contains(s))
                .ok_or_else(|| {
                    ApiError::validation("INVALID_PAGE_SIZE", "size: must be an integer from 1 to 100")
                        .with_param("size")
                })?,
        };
        Ok(Page { page, size })
    }

    /// The items of this page; empty past the end (a huge `page` never overflows).
    pub(super) fn window<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let skip = usize::try_from((self.page - 1).saturating_mul(self.size)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.size).unwrap_or(usize::MAX);
        let start = skip.min(items.len());
        let end = start.saturating_add(take).min(items.len());
        &items[start..end]
    }

    /// The `pagination` object for a listing of `total` items.
    pub(super) fn meta(&self, total: usize) -> Value {
        let total = total as u64;
        let total_pages = total.div_ceil(self.size);
        json!({
            "page": self.page,
            "size": self.size,
            "total_count": total,
            "total_pages": total_pages,
            "has_more": self.page < total_pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(raw: &str) -> Result<Page, ApiError> {
        Page::from_query(&Query::parse(Some(raw))?)
    }

    #[test]
    fn defaults_bounds_and_codes() {
        assert_eq!(page("").unwrap(), Page { page: 1, size: 20 });
        assert_eq!(page("page=0").unwrap_err().code, "INVALID_QUERY_PARAMETER");
        assert_eq!(page("page=x").unwrap_err().code, "INVALID_QUERY_PARAMETER");
        assert_eq!(page("size=0").unwrap_err().code, "INVALID_PAGE_SIZE");
        assert_eq!(page("size=101").unwrap_err().code, "INVALID_PAGE_SIZE");
        assert_eq!(page("size=100").unwrap().size, 100);
    }

    #[test]
    fn windows_and_meta() {
        let items: Vec<u32> = (0..5).collect();
        let p = Page { page: 2, size: 2 };
        assert_eq!(p.window(&items), &[2, 3]);
        assert_eq!(p.meta(items.len())["has_more"], true);
        let last = Page { page: 3, size: 2 };
        assert_eq!(last.window(&items), &[4]);
        assert_eq!(last.meta(5)["total_pages"], 3);
        assert_eq!(last.meta(5)["has_more"], false);
        let far = Page {
            page: u64::MAX,
            size: 100,
        };
        assert!(far.window(&items).is_empty());
        assert_eq!(Page { page: 1, size: 20 }.meta(0)["total_pages"], 0);
    }
}
