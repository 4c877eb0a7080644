//! Routing (派单规则): a pure function from a ticket's words to its kind, department and
//! deadline class, driven by `config/routing.toml`. No I/O, so it is tested on a table.

use serde::{Deserialize, Serialize};

use super::departments::Directory;
use super::model::{DepartmentId, Kind};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    #[serde(default = "default_min_score")]
    pub min_score: usize,
    #[serde(default = "default_kind")]
    pub default_kind: Kind,
    #[serde(default, rename = "kind")]
    pub kinds: Vec<KindRule>,
    #[serde(default)]
    pub urgent: Option<UrgentRule>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

fn default_min_score() -> usize {
    2
}
fn default_kind() -> Kind {
    Kind::Complaint
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KindRule {
    pub kind: Kind,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UrgentRule {
    pub keywords: Vec<String>,
    pub sla: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub department: DepartmentId,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<Kind>,
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub sla: Option<String>,
}

/// What routing decided, and why (for the audit trail and the operator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub kind: Kind,
    pub department: Option<DepartmentId>,
    /// `rule:<name>`, `area:<place>`, or `review` when nobody is sure.
    pub reason: String,
    /// Deadline class chosen by a rule (urgent, utilities …); `None` means by kind.
    pub sla: Option<String>,
    /// Matched keyword characters of the winning rule; 0 when unrouted.
    pub score: usize,
}

impl Route {
    pub fn needs_review(&self) -> bool {
        self.department.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("rule `{rule}` sends tickets to department `{department}`, which departments.toml does not list")]
    UnknownDepartment { rule: String, department: String },
    #[error("rule `{0}` has no keywords")]
    NoKeywords(String),
}

impl RoutingRules {
    pub fn parse(text: &str) -> Result<RoutingRules, RoutingError> {
        Ok(toml::from_str(text)?)
    }

    /// Every rule must point at a department that exists.
    pub fn validate(&self, dir: &Directory) -> Result<(), RoutingError> {
        for r in &self.rules {
            if r.keywords.iter().all(|k| k.trim().is_empty()) {
                return Err(RoutingError::NoKeywords(r.name.clone()));
            }
            if dir.get(&r.department).is_none() {
                return Err(RoutingError::UnknownDepartment {
                    rule: r.name.clone(),
                    department: r.department.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The kind the wording suggests.
    pub fn kind_of(&self, text: &str) -> Kind {
        self.kinds
            .iter()
            .find(|k| {
                k.keywords
                    .iter()
                    .any(|w| !w.is_empty() && text.contains(w.as_str()))
            })
            .map(|k| k.kind)
            .unwrap_or(self.default_kind)
    }

    /// Routes a ticket. `kind` is what the resident or operator chose, if anyone did; `area`
    /// is an address or place given separately from the text.
    pub fn route(
        &self,
        dir: &Directory,
        text: &str,
        kind: Option<Kind>,
        area: Option<&str>,
    ) -> Route {
        let kind = kind.unwrap_or_else(|| self.kind_of(text));
        let place_text = match area {
            Some(a) => format!("{a} {text}"),
            None => text.to_string(),
        };
        let urgent_sla = self.urgent.as_ref().and_then(|u| {
            u.keywords
                .iter()
                .any(|w| !w.is_empty() && text.contains(w.as_str()))
                .then(|| u.sla.clone())
        });

        let best = self
            .rules
            .iter()
            .filter(|r| r.kinds.is_empty() || r.kinds.contains(&kind))
            .map(|r| (r, score(&r.keywords, text)))
            .filter(|(_, s)| *s >= self.min_score.max(1))
            .fold(None::<(&Rule, usize)>, |best, (r, s)| match best {
                Some((_, bs)) if bs >= s => best,
                _ => Some((r, s)),
            });

        let area_office = dir.by_area_in(&place_text);
        match best {
            Some((rule, s)) => {
                let town = if rule.local {
                    dir.township_in(&place_text)
                } else {
                    None
                };
                let (department, reason) = match town {
                    Some((office, place)) => (
                        office.id.clone(),
                        format!("rule:{}+area:{place}", rule.name),
                    ),
                    None => (rule.department.clone(), format!("rule:{}", rule.name)),
                };
                Route {
                    kind,
                    department: Some(department),
                    reason,
                    sla: urgent_sla.or_else(|| rule.sla.clone()),
                    score: s,
                }
            }
            None => match area_office {
                Some((office, place)) => Route {
                    kind,
                    department: Some(office.id.clone()),
                    reason: format!("area:{place}"),
                    sla: urgent_sla,
                    score: place.chars().count(),
                },
                None => Route {
                    kind,
                    department: None,
                    reason: "review".into(),
                    sla: urgent_sla,
                    score: 0,
                },
            },
        }
    }
}

/// Characters of the keywords found in the text; longer, more specific words weigh more.
fn score(keywords: &[String], text: &str) -> usize {
    keywords
        .iter()
        .filter(|k| !k.is_empty() && text.contains(k.as_str()))
        .map(|k| k.chars().count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (RoutingRules, Directory) {
        let rules = RoutingRules::parse(include_str!("../../config/routing.toml")).unwrap();
        let dir = Directory::parse(include_str!("../../config/departments.toml")).unwrap();
        rules.validate(&dir).unwrap();
        (rules, dir)
    }

    /// Realistic 12345 texts and where a trained operator would send them.
    const TABLE: &[(&str, Option<&str>, &str)] = &[
        (
            "解放路的路灯坏了三天了，晚上走路很危险",
            Some("urban_management"),
            "complaint",
        ),
        (
            "人民路和建设路交叉口的红绿灯不亮了",
            Some("traffic_police"),
            "complaint",
        ),
        (
            "我们小区物业不作为，电梯坏了一个月没人修",
            Some("housing_construction"),
            "complaint",
        ),
        (
            "我在工地干了半年，老板拖欠工资一直不给",
            Some("hr_social_security"),
            "complaint",
        ),
        (
            "请问养老保险怎么办理退休手续，需要什么材料",
            Some("hr_social_security"),
            "consultation",
        ),
        (
            "家里停水了，一整天都没水，什么时候来水",
            Some("water"),
            "consultation",
        ),
        (
            "我们村从早上开始停电，到现在还没来电",
            Some("power_supply"),
            "complaint",
        ),
        (
            "楼下饭店卖过期食品，吃了拉肚子",
            Some("market_regulation"),
            "complaint",
        ),
        (
            "举报化工厂夜里偷排废水，河水发黑发臭",
            Some("ecology_environment"),
            "report",
        ),
        (
            "小区附近工地夜间施工噪音太大，影响休息",
            Some("urban_management"),
            "complaint",
        ),
        (
            "广场舞音响声音太大，每天晚上扰民",
            Some("public_security"),
            "complaint",
        ),
        (
            "5路公交车司机态度很好，要表扬一下",
            Some("transport"),
            "praise",
        ),
        ("出租车拒载，还绕路多收钱", Some("transport"), "complaint"),
        (
            "孩子上小学入学需要准备什么材料，学区怎么划分",
            Some("education"),
            "consultation",
        ),
        ("举报有老师在家里违规补课收费", Some("education"), "report"),
        ("医院排队太久，医生态度差", Some("health"), "complaint"),
        (
            "居民医保在外地看病怎么报销",
            Some("medical_insurance"),
            "consultation",
        ),
        (
            "我想咨询一下身份证丢了怎么补办",
            Some("public_security"),
            "consultation",
        ),
        (
            "不动产登记需要带什么证件，在哪里办",
            Some("natural_resources"),
            "consultation",
        ),
        (
            "家里老人想申请低保，怎么申请",
            Some("civil_affairs"),
            "consultation",
        ),
        (
            "我闻到楼道里有燃气泄漏的味道，很着急",
            Some("gas"),
            "complaint",
        ),
        (
            "建议在世纪大道增设一个公交站台",
            Some("transport"),
            "suggestion",
        ),
        (
            "小区门口垃圾堆了好几天没人清运",
            Some("urban_management"),
            "complaint",
        ),
        (
            "碾庄镇街上的路灯一直不亮",
            Some("nianzhuang_town"),
            "complaint",
        ),
        (
            "官湖镇有人在河边私自倾倒垃圾",
            Some("guanhu_town"),
            "report",
        ),
        (
            "土山镇我们村的道路坑坑洼洼的，下雨全是积水",
            Some("tushan_town"),
            "complaint",
        ),
        (
            "开发商延期交房两年了，一直没有说法",
            Some("housing_construction"),
            "complaint",
        ),
        (
            "超市卖假货还不给退款",
            Some("market_regulation"),
            "complaint",
        ),
        (
            "路边有人乱摆摊占道经营，堵住了人行道",
            Some("urban_management"),
            "complaint",
        ),
        (
            "工厂烟囱冒黑烟，空气里全是异味",
            Some("ecology_environment"),
            "complaint",
        ),
        (
            "我家电表走得特别快，电费比以前高了一倍",
            Some("power_supply"),
            "complaint",
        ),
        ("自来水水质发黄，有一股怪味", Some("water"), "complaint"),
        (
            "仓库里非法储存烟花爆竹，存在安全隐患",
            Some("emergency"),
            "report",
        ),
        (
            "门口马路上有车违停，堵住了消防车通道口",
            Some("traffic_police"),
            "complaint",
        ),
        (
            "卖假种子坑农民，今年麦子都没出苗",
            Some("agriculture"),
            "complaint",
        ),
        ("我对你们的工作有点想法", None, "complaint"),
        ("你好，我想问个事情", None, "complaint"),
        (
            "感谢东湖街道的工作人员帮我们解决了问题",
            Some("donghu_street"),
            "praise",
        ),
    ];

    #[test]
    fn routes_a_table_of_real_complaints() {
        let (rules, dir) = demo();
        assert!(TABLE.len() >= 30);
        let mut wrong = Vec::new();
        for (text, dept, kind) in TABLE {
            let r = rules.route(&dir, text, None, None);
            let got = r.department.as_ref().map(|d| d.as_str());
            if got != *dept || r.kind.code() != *kind {
                wrong.push(format!(
                    "{text}: got {got:?}/{} ({}), want {dept:?}/{kind}",
                    r.kind, r.reason
                ));
            }
        }
        assert!(wrong.is_empty(), "misrouted:\n{}", wrong.join("\n"));
    }

    #[test]
    fn emergencies_get_the_urgent_deadline() {
        let (rules, dir) = demo();
        let r = rules.route(&dir, "我闻到楼道里有燃气泄漏的味道", None, None);
        assert_eq!(r.sla.as_deref(), Some("urgent"));
        let r = rules.route(&dir, "电梯困人了，有人被困在里面", None, None);
        assert_eq!(r.sla.as_deref(), Some("urgent"));
        assert_eq!(r.department.unwrap().as_str(), "housing_construction");
    }

    #[test]
    fn a_chosen_kind_overrides_the_wording() {
        let (rules, dir) = demo();
        let r = rules.route(&dir, "请问路灯归谁管", Some(Kind::Complaint), None);
        assert_eq!(r.kind, Kind::Complaint);
    }

    #[test]
    fn an_area_given_apart_from_the_text_counts() {
        let (rules, dir) = demo();
        let r = rules.route(&dir, "路灯坏了", None, Some("铁富镇姚庄村"));
        assert_eq!(r.department.unwrap().as_str(), "tiefu_town");
    }

    #[test]
    fn unknown_department_in_a_rule_is_an_error() {
        let dir = Directory::parse(include_str!("../../config/departments.toml")).unwrap();
        let rules = RoutingRules::parse(
            "[[rule]]\nname = \"x\"\ndepartment = \"nowhere\"\nkeywords = [\"a\"]\n",
        )
        .unwrap();
        let e = rules.validate(&dir).unwrap_err().to_string();
        assert!(e.contains("nowhere"), "{e}");
    }
}
