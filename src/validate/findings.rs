//! What validation found in one request, and whether that refuses it: in `enforce` mode the
//! first finding is the answer; in `report` mode findings are kept and the request goes on, to
//! be logged, counted and named in the answer's `x-allo-gateway-warning`.

use crate::config::ValidationMode;

use super::ValidationError;

pub struct Findings {
    mode: ValidationMode,
    found: Vec<ValidationError>,
}

impl Findings {
    pub fn new(mode: ValidationMode) -> Findings {
        Findings {
            mode,
            found: Vec::new(),
        }
    }

    /// Passes a check's result on, or, in `report` mode, keeps its finding and passes.
    pub fn judge(&mut self, result: Result<(), ValidationError>) -> Result<(), ValidationError> {
        match (result, self.mode) {
            (Ok(()), _) => Ok(()),
            (Err(e), ValidationMode::Enforce) => Err(e),
            (Err(e), ValidationMode::Report) => {
                self.found.push(e);
                Ok(())
            }
        }
    }

    /// Nothing was found.
    pub fn is_clean(&self) -> bool {
        self.found.is_empty()
    }

    /// What was found, in the order the checks ran (`error::Reported` names them).
    pub fn found(&self) -> &[ValidationError] {
        &self.found
    }
}
