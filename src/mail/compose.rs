//! The plain-text mail a department gets: subject from the config's template for the event,
//! body from [`BODY`], both rendered by [`crate::notify::templates`].

use crate::notify::templates::render;
use crate::notify::MailFacts;
use crate::privacy::mask;

use super::config::MailConfig;

/// The mail body; `lead` is the sentence for the event.
pub const BODY: &str = "{{ department }}：\n\n{{ lead }}工单号：{{ number }}\n诉求类型：{{ kind }}\n办理时限：{{ deadline }}\n来电人：{{ phone }}\n所在区域：{{ area }}\n地址：{{ address }}\n\n诉求内容（含录音转写）：\n{{ text }}\n\n办理入口：{{ portal }}/tickets/{{ number }}\n\n—— 12345政务服务便民热线\n";

/// The subject template for an event kind, or None when departments get no mail about it.
pub fn subject_for<'a>(cfg: &'a MailConfig, kind: &str) -> Option<&'a str> {
    Some(match kind {
        "dispatched" => &cfg.subject_dispatched,
        "deadline_warning" => &cfg.subject_deadline_warning,
        "overdue" => &cfg.subject_overdue,
        _ => return None,
    })
}

/// Subject and body of the mail for `kind`.
pub fn compose(cfg: &MailConfig, kind: &str, f: &MailFacts) -> (String, String) {
    let deadline = f.deadline.clone().unwrap_or_else(|| "未定".into());
    let subject = render(
        subject_for(cfg, kind).unwrap_or(&cfg.subject_dispatched),
        &[
            ("number", &f.number),
            ("deadline", &deadline),
            ("kind", &f.kind_label),
            ("department", &f.department_name),
        ],
    );
    let phone = if cfg.show_full_phone {
        f.phone.clone()
    } else {
        mask(&f.phone)
    };
    let lead = match kind {
        "deadline_warning" => "该工单即将到期，请抓紧办理并及时答复。\n\n",
        "overdue" => "该工单已超过办理时限，已列入督办，请立即办理并说明原因。\n\n",
        _ => "现将以下市民诉求转你单位办理，请按时限办结并答复。\n\n",
    };
    let body = render(
        BODY,
        &[
            ("department", &f.department_name),
            ("lead", lead),
            ("number", &f.number),
            ("kind", &f.kind_label),
            ("deadline", &deadline),
            ("phone", &phone),
            ("area", f.area.as_deref().unwrap_or("未填写")),
            ("address", f.address.as_deref().unwrap_or("未填写")),
            ("text", &f.text),
            ("portal", cfg.portal_url.trim_end_matches('/')),
        ],
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> MailFacts {
        MailFacts {
            number: "202611260001".into(),
            kind_label: "投诉".into(),
            text: "路灯坏了".into(),
            area: Some("运河街道".into()),
            address: None,
            phone: "13812345678".into(),
            deadline: Some("2026-12-01 17:30".into()),
            department_name: "市城市管理局".into(),
            department_email: Some("cgj@pizhou.example".into()),
        }
    }

    #[test]
    fn mail_hides_the_phone_unless_allowed() {
        let f = facts();
        let mut cfg = MailConfig::default();
        let (s, b) = compose(&cfg, "dispatched", &f);
        assert_eq!(
            s,
            "【12345工单】202611260001 投诉，请于2026-12-01 17:30前办结"
        );
        assert!(b.contains("138****5678") && !b.contains("13812345678"));
        assert!(b.contains("运河街道") && b.contains("路灯坏了"));
        assert!(b.contains("/portal/tickets/202611260001"));
        cfg.show_full_phone = true;
        assert!(compose(&cfg, "overdue", &f).1.contains("13812345678"));
        assert!(compose(&cfg, "overdue", &f).0.contains("超期"));
    }

    #[test]
    fn body_is_the_same_text_as_before_templates() {
        let f = facts();
        let (_, b) = compose(&MailConfig::default(), "deadline_warning", &f);
        assert_eq!(
            b,
            "市城市管理局：\n\n该工单即将到期，请抓紧办理并及时答复。\n\n工单号：202611260001\n诉求类型：投诉\n办理时限：2026-12-01 17:30\n来电人：138****5678\n所在区域：运河街道\n地址：未填写\n\n诉求内容（含录音转写）：\n路灯坏了\n\n办理入口：http://127.0.0.1:8080/portal/tickets/202611260001\n\n—— 12345政务服务便民热线\n"
        );
    }
}
