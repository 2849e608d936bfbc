//! The owned WAF rule's statement: which values it accepts, and the same statement
//! rewritten for another set. Only the byte-match part on the header is touched; a wrapping
//! NotStatement or AndStatement (and its other statements) is kept as it is.

use aws_sdk_wafv2::primitives::Blob;
use aws_sdk_wafv2::types::{
    AndStatement, ByteMatchStatement, FieldToMatch, NotStatement, OrStatement,
    PositionalConstraint, SingleHeader, Statement, TextTransformation, TextTransformationType,
};

use crate::value::{Secret, TargetValue};

/// Where the header match sits in the rule's statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// The statement is the match.
    Plain,
    /// `NOT(match)`.
    Not,
    /// `AND(…)` with the match at `position` among the other statements.
    And {
        statements: Vec<Statement>,
        position: usize,
    },
}

/// Reads the values a statement accepts, or says why it is not one this tool wrote.
pub fn read(statement: &Statement, header: &str) -> Result<(Shape, Vec<TargetValue>), String> {
    if let Some(values) = header_match(statement, header) {
        return Ok((Shape::Plain, values));
    }
    if let Some(inner) = statement.not_statement().and_then(|n| n.statement()) {
        if let Some(values) = header_match(inner, header) {
            return Ok((Shape::Not, values));
        }
    }
    if let Some(and) = statement.and_statement() {
        let found: Vec<(usize, Vec<TargetValue>)> = and
            .statements()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| header_match(s, header).map(|v| (i, v)))
            .collect();
        if let [(position, values)] = found.as_slice() {
            let shape = Shape::And {
                statements: and.statements().to_vec(),
                position: *position,
            };
            return Ok((shape, values.clone()));
        }
    }
    Err(format!(
        "the rule's statement is not an EXACTLY byte match on header {header} (alone, in an OrStatement, or wrapped in one NotStatement or AndStatement): edited by hand?"
    ))
}

/// The statement for `values`, in `shape`.
#[expect(
    clippy::expect_used,
    reason = "the SDK builders fail only on unset required fields, all set here"
)]
pub fn write(shape: &Shape, header: &str, values: &[Secret]) -> Statement {
    let inner = match values {
        [one] => byte_match(header, one),
        many => Statement::builder()
            .or_statement(
                OrStatement::builder()
                    .set_statements(Some(many.iter().map(|v| byte_match(header, v)).collect()))
                    .build()
                    .expect("statements are set"),
            )
            .build(),
    };
    match shape {
        Shape::Plain => inner,
        Shape::Not => Statement::builder()
            .not_statement(NotStatement::builder().statement(inner).build())
            .build(),
        Shape::And {
            statements,
            position,
        } => {
            let mut statements = statements.clone();
            statements[*position] = inner;
            Statement::builder()
                .and_statement(
                    AndStatement::builder()
                        .set_statements(Some(statements))
                        .build()
                        .expect("statements are set"),
                )
                .build()
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "the SDK builders fail only on unset required fields, all set here"
)]
fn byte_match(header: &str, value: &Secret) -> Statement {
    let statement = ByteMatchStatement::builder()
        .search_string(Blob::new(value.expose()))
        .field_to_match(
            FieldToMatch::builder()
                .single_header(
                    SingleHeader::builder()
                        .name(header)
                        .build()
                        .expect("name is set"),
                )
                .build(),
        )
        .text_transformations(
            TextTransformation::builder()
                .priority(0)
                .r#type(TextTransformationType::None)
                .build()
                .expect("fields are set"),
        )
        .positional_constraint(PositionalConstraint::Exactly)
        .build()
        .expect("fields are set");
    Statement::builder().byte_match_statement(statement).build()
}

/// The values of a byte match (or an OR of byte matches) on `header`, EXACTLY, without
/// text transformation; `None` for anything else.
fn header_match(statement: &Statement, header: &str) -> Option<Vec<TargetValue>> {
    if let Some(bm) = statement.byte_match_statement() {
        return one_value(bm, header).map(|v| vec![v]);
    }
    let or = statement.or_statement()?;
    or.statements()
        .iter()
        .map(|s| {
            s.byte_match_statement()
                .and_then(|bm| one_value(bm, header))
        })
        .collect()
}

fn one_value(bm: &ByteMatchStatement, header: &str) -> Option<TargetValue> {
    let name = bm.field_to_match()?.single_header()?.name();
    let untransformed = bm
        .text_transformations()
        .iter()
        .all(|t| t.r#type() == &TextTransformationType::None);
    if !name.eq_ignore_ascii_case(header)
        || bm.positional_constraint() != &PositionalConstraint::Exactly
        || !untransformed
    {
        return None;
    }
    Some(TargetValue::new(bm.search_string().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "x-origin-verify";

    fn values(n: usize) -> Vec<Secret> {
        (0..n).map(|_| Secret::generate().unwrap()).collect()
    }

    fn held(v: &[Secret]) -> Vec<TargetValue> {
        v.iter().map(TargetValue::from).collect()
    }

    #[test]
    fn one_value_is_a_single_byte_match_and_several_an_or() {
        let one = values(1);
        let s = write(&Shape::Plain, H, &one);
        assert!(s.byte_match_statement().is_some());
        assert_eq!(read(&s, H).unwrap(), (Shape::Plain, held(&one)));
        let three = values(3);
        let s = write(&Shape::Plain, H, &three);
        assert_eq!(s.or_statement().unwrap().statements().len(), 3);
        assert_eq!(read(&s, H).unwrap().1, held(&three));
    }

    #[test]
    fn a_not_or_and_wrapper_is_kept() {
        let v = values(2);
        let not = write(&Shape::Not, H, &v);
        let (shape, read_back) = read(&not, H).unwrap();
        assert_eq!((shape, read_back), (Shape::Not, held(&v)));

        let geo = Statement::builder()
            .label_match_statement(
                aws_sdk_wafv2::types::LabelMatchStatement::builder()
                    .scope(aws_sdk_wafv2::types::LabelMatchScope::Label)
                    .key("awswaf:clientip:geo:country:DE")
                    .build()
                    .unwrap(),
            )
            .build();
        let and = Statement::builder()
            .and_statement(
                AndStatement::builder()
                    .statements(geo.clone())
                    .statements(write(&Shape::Plain, H, &v))
                    .build()
                    .unwrap(),
            )
            .build();
        let (shape, _) = read(&and, H).unwrap();
        let narrowed = write(&shape, H, &v[..1]);
        let parts = narrowed.and_statement().unwrap().statements();
        assert_eq!(parts[0], geo, "the other statement is untouched");
        assert!(parts[1].byte_match_statement().is_some());
    }

    #[test]
    fn a_hand_edited_statement_is_refused() {
        let v = values(1);
        let other_header = write(&Shape::Plain, "x-other", &v);
        assert!(read(&other_header, H).is_err());
        let mut transformed = write(&Shape::Plain, H, &v)
            .byte_match_statement()
            .unwrap()
            .clone();
        transformed.text_transformations = vec![
            TextTransformation::builder()
                .priority(0)
                .r#type(TextTransformationType::Lowercase)
                .build()
                .unwrap(),
        ];
        let s = Statement::builder()
            .byte_match_statement(transformed)
            .build();
        assert!(read(&s, H).is_err());
        let message = read(&s, H).unwrap_err();
        assert!(!message.contains(v[0].expose_str()));
    }
}
