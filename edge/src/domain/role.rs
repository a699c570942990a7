//! Roles and how they nest: admin ⊇ supervisor ⊇ {picker, packer, cashier}; `central` stands apart
//! and only rings the sync doorbell.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Picker,
    Packer,
    Cashier,
    Supervisor,
    Admin,
    Central,
}

/// The roles a person can hold: every role but `central`, which only an API key has (the
/// document's statement of it; requests carry [`Role`]).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PersonRole {
    Picker,
    Packer,
    Cashier,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Picker,
        Role::Packer,
        Role::Cashier,
        Role::Supervisor,
        Role::Admin,
        Role::Central,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Picker => "picker",
            Role::Packer => "packer",
            Role::Cashier => "cashier",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Central => "central",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a holder of `self` may act where `required` is needed.
    pub fn satisfies(self, required: Role) -> bool {
        if self == required {
            return true;
        }
        match self {
            Role::Admin => required != Role::Central,
            Role::Supervisor => matches!(required, Role::Picker | Role::Packer | Role::Cashier),
            _ => false,
        }
    }

    /// Floor roles are the ones a person at a scanner, station or till acts in.
    pub fn is_floor(self) -> bool {
        self != Role::Central
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_holds_any_role_but_central() {
        let schema =
            serde_json::to_value(<PersonRole as utoipa::PartialSchema>::schema()).expect("schema");
        let want: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| **r != Role::Central)
            .map(|r| r.as_str())
            .collect();
        assert_eq!(schema["enum"], serde_json::json!(want));
    }

    #[test]
    fn roles_nest_as_documented() {
        for r in Role::ALL {
            assert!(r.satisfies(r));
            assert_eq!(Role::Admin.satisfies(r), r != Role::Central);
            assert!(!Role::Central.satisfies(r) || r == Role::Central);
        }
        assert!(Role::Supervisor.satisfies(Role::Packer));
        assert!(!Role::Supervisor.satisfies(Role::Admin));
        assert!(!Role::Picker.satisfies(Role::Packer));
        assert!(!Role::Packer.satisfies(Role::Supervisor));
    }
}
