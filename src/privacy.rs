//! Personal data kept out of logs, mail and public answers: a phone number never appears
//! whole unless a city allows it, and text shown to the public loses numbers, names and
//! house numbers. A leaf: every layer may use it, it imports nothing of the crate.

/// 138****5678.
pub fn mask(phone: &str) -> String {
    let c: Vec<char> = phone.chars().collect();
    let n = c.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    format!(
        "{}****{}",
        c[..3].iter().collect::<String>(),
        c[n - 4..].iter().collect::<String>()
    )
}

/// A number whose period ran out (个人信息保护法): only its last four digits stay
/// (13812345678 → *******5678), which the public status lookup still asks for.
pub fn keep_last4(phone: &str) -> String {
    let n = phone.chars().count();
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '*' } else { c })
        .collect()
}

/// Digit runs at least this long are phone, ID or account numbers, never a house number.
const LONG_NUMBER: usize = 5;

/// What follows a house number in a Chinese address: 12号, 3栋, 2单元, 501室, 4楼 …
const HOUSE_UNITS: &[char] = &[
    '号', '栋', '幢', '座', '单', '室', '楼', '层', '弄', '户', '排', '组', '巷',
];

/// Words after which a person's name follows (我叫张三, 姓名：李四, 联系人王五).
const NAME_LEADS: &[&str] = &["我叫", "我姓", "姓名", "名叫", "联系人", "本人"];

/// Titles after a surname (张先生, 李女士, 王师傅): the surname goes.
const TITLES: &[&str] = &[
    "先生", "女士", "小姐", "师傅", "阿姨", "大爷", "大妈", "老师", "同志", "老板",
];

/// Characters before a title that are no surname (这位先生, 的老师).
const NOT_SURNAMES: &str = "的位名个这那此该其和与跟及各";

/// A name is at most this many characters after its lead word.
const NAME_MAX: usize = 3;

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn is_cn_numeral(c: char) -> bool {
    "零一二三四五六七八九十百".contains(c)
}

/// Public text of a resident's request: phone and other long numbers become `***`, house
/// numbers `*` (运河街道解放路*号), names after 我叫/姓名 … and surnames before 先生/女士 …
/// become `*`. Errs on the side of blanking: 12月3号 reads 12月*号.
pub fn redact(text: &str) -> String {
    scrub(text, Scrub::Public)
}

/// Text kept after a resident's number expired: phone and other long numbers become `***`
/// as in [`redact`], everything else stays (names and addresses are the case's substance).
pub fn mask_numbers(text: &str) -> String {
    scrub(text, Scrub::NumbersOnly)
}

/// How much of a text [`scrub`] blanks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scrub {
    /// Numbers, house numbers and names: for anyone to read.
    Public,
    /// Long numbers only: the case stays readable for the hotline.
    NumbersOnly,
}

/// The one scan behind [`redact`] and [`mask_numbers`], so both agree on what a number is.
fn scrub(text: &str, scope: Scrub) -> String {
    let public = scope == Scrub::Public;
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        if is_digit(c[i]) {
            let (j, digits) = digit_run(&c, i);
            if digits >= LONG_NUMBER {
                out.push_str("***");
            } else if public && j < c.len() && HOUSE_UNITS.contains(&c[j]) {
                out.push('*');
            } else {
                out.extend(&c[i..j]);
            }
            i = j;
            continue;
        }
        if !public {
            out.push(c[i]);
            i += 1;
            continue;
        }
        // 三号楼, 十二栋: Chinese numerals before a house unit.
        if is_cn_numeral(c[i]) {
            let mut j = i;
            while j < c.len() && is_cn_numeral(c[j]) {
                j += 1;
            }
            if j < c.len() && HOUSE_UNITS.contains(&c[j]) {
                out.push('*');
            } else {
                out.extend(&c[i..j]);
            }
            i = j;
            continue;
        }
        let rest: String = c[i..].iter().take(4).collect();
        if let Some(lead) = NAME_LEADS.iter().find(|l| rest.starts_with(**l)) {
            out.push_str(lead);
            i += lead.chars().count();
            while i < c.len() && matches!(c[i], ':' | '：' | ' ') {
                out.push(c[i]);
                i += 1;
            }
            let mut n = 0;
            while i < c.len() && n < NAME_MAX && is_cjk(c[i]) && !title_at(&c, i) {
                i += 1;
                n += 1;
            }
            if n > 0 {
                out.push('*');
            }
            continue;
        }
        if is_cjk(c[i]) && !NOT_SURNAMES.contains(c[i]) && title_at(&c, i + 1) {
            out.push('*');
            i += 1;
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// The run of digits starting at `i`, with - or spaces inside (138-1234-5678,
/// 138 1234 5678): where it ends and how many digits it has.
fn digit_run(c: &[char], i: usize) -> (usize, usize) {
    let mut j = i;
    let mut digits = 0;
    while j < c.len() {
        if is_digit(c[j]) {
            digits += 1;
            j += 1;
        } else if (c[j] == '-' || c[j] == ' ') && j + 1 < c.len() && is_digit(c[j + 1]) {
            j += 1;
        } else {
            break;
        }
    }
    (j, digits)
}

fn title_at(c: &[char], i: usize) -> bool {
    let rest: String = c.iter().skip(i).take(2).collect();
    TITLES.iter().any(|t| rest == *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask("13812345678"), "138****5678");
        assert_eq!(mask("12345"), "*****");
    }

    #[test]
    fn public_text_loses_numbers_names_and_house_numbers() {
        assert_eq!(redact("请回电13812345678或138-1234-5678"), "请回电***或***");
        assert_eq!(
            redact("运河街道解放路12号3栋2单元501室漏水"),
            "运河街道解放路*号*栋*单元*室漏水"
        );
        assert_eq!(redact("幸福小区三号楼"), "幸福小区*号楼");
        assert_eq!(redact("我叫张三，家里停水"), "我叫*，家里停水");
        assert_eq!(redact("姓名：李四"), "姓名：*");
        assert_eq!(redact("，王师傅态度很好"), "，*师傅态度很好");
        assert_eq!(redact("张先生反映路灯不亮"), "*先生反映路灯不亮");
        assert_eq!(redact("表扬王师傅"), "表扬*师傅");
        assert_eq!(redact("这位女士和学校的老师"), "这位女士和学校的老师");
    }

    #[test]
    fn expired_text_loses_only_its_long_numbers() {
        assert_eq!(
            mask_numbers("我是张三，电话138-1234-5678，解放路12号3栋"),
            "我是张三，电话***，解放路12号3栋"
        );
        assert_eq!(mask_numbers("已经停水3天"), "已经停水3天");
        assert_eq!(keep_last4("13812345678"), "*******5678");
        assert_eq!(keep_last4("5678"), "5678");
        assert_eq!(keep_last4("*******5678"), "*******5678");
    }

    #[test]
    fn ordinary_text_stays() {
        assert_eq!(redact("路面塌陷，存在安全隐患"), "路面塌陷，存在安全隐患");
        assert_eq!(redact("已经停水3天"), "已经停水3天");
        assert_eq!(redact("供水管道已抢修完毕"), "供水管道已抢修完毕");
    }
}
