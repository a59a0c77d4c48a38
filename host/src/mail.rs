//! Mail the exchange sends: an employee's access details, voicemail with its recording. A mail
//! is composed here (plain text, or multipart with one attachment, by `lettre`), queued in the
//! database (`store/outbox.rs`), and sent by one task per node over SMTP, retried with backoff
//! until the server takes it — a mail server that is down loses nothing.
//!
//! With no SMTP server configured, [`Mailer::off`] queues nothing (the exchange says once at
//! start that mail is off).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::call::record::unix_ms;
use crate::store::{NewMail, QueuedMail, Store};
use crate::tenant::CompanyId;

/// A file sent with a mail.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub content_type: ContentType,
    pub data: Vec<u8>,
}

/// The content type of WAV recordings.
pub fn wav() -> ContentType {
    ContentType::parse("audio/wav").expect("a valid content type")
}

/// A mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub attachment: Option<File>,
}

/// Mails a company's callers can cause (voicemail and missed-call notices) in an hour: a
/// stranger calling again and again must not make the exchange flood the company's inboxes or
/// its SMTP server. Past it, the message is still in the mailbox; the mail is left out (logged).
pub const CALLER_MAILS_PER_HOUR: i64 = 300;

/// Queues mail for sending; clones share one outbox.
#[derive(Clone)]
pub struct Mailer {
    inner: Option<Arc<Outbox>>,
}

struct Outbox {
    store: Store,
    from: Mailbox,
    /// Wakes the sender when a mail is queued.
    queued: tokio::sync::Notify,
}

/// Sending is retried this many times (about two days with the backoff below), then given up
/// with the last error kept in the outbox.
const MAX_ATTEMPTS: i64 = 50;
/// A retry waits at most this long.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// A claimed mail is tried again after this long, should its sender die mid-send.
const LEASE: Duration = Duration::from_secs(300);
/// How often the sender looks for due mail besides being woken.
const CHECK_EVERY: Duration = Duration::from_secs(5);

impl Mailer {
    /// No mail: nothing is queued.
    pub fn off() -> Self {
        Mailer { inner: None }
    }

    /// Mail from `from` (`Name <address>` or an address), queued in `store`.
    pub fn new(store: Store, from: &str) -> anyhow::Result<Self> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| anyhow::anyhow!("mail_from {from:?}: {e}"))?;
        Ok(Mailer {
            inner: Some(Arc::new(Outbox {
                store,
                from,
                queued: tokio::sync::Notify::new(),
            })),
        })
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `mail`; `Ok(false)` when mail is off. `Err` when the message cannot be made (a
    /// bad address) or queued.
    pub async fn send(&self, company: CompanyId, mail: Mail) -> anyhow::Result<bool> {
        let Some(outbox) = &self.inner else {
            return Ok(false);
        };
        let message = compose(&outbox.from, &mail)?;
        let queued = NewMail {
            sender: outbox.from.email.as_ref(),
            recipient: &mail.to,
            subject: &mail.subject,
            message: &message.formatted(),
        };
        outbox.store.company(company).queue_mail(&queued, unix_ms()).await?;
        outbox.queued.notify_one();
        Ok(true)
    }

    /// Sends due mail through `transport` until the process ends; a failed attempt is retried
    /// after `first_retry`, then twice as long each time, up to an hour.
    pub async fn run_sender(self, transport: AsyncSmtpTransport<Tokio1Executor>, first_retry: Duration) {
        let Some(outbox) = self.inner else { return };
        loop {
            match outbox.store.due_mail(unix_ms(), 20).await {
                Ok(due) => {
                    for mail in due {
                        send_one(&outbox.store, &transport, mail, first_retry).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mail outbox unreadable"),
            }
            let _ = tokio::time::timeout(CHECK_EVERY, outbox.queued.notified()).await;
        }
    }
}

/// Builds the message: plain text, or the text and one attachment.
fn compose(from: &Mailbox, mail: &Mail) -> anyhow::Result<Message> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| anyhow::anyhow!("recipient {:?}: {e}", mail.to))?;
    let builder = Message::builder().from(from.clone()).to(to).subject(&mail.subject);
    let message = match &mail.attachment {
        None => builder.header(ContentType::TEXT_PLAIN).body(mail.text.clone())?,
        Some(file) => builder.multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(mail.text.clone()))
                .singlepart(Attachment::new(file.name.clone()).body(file.data.clone(), file.content_type.clone())),
        )?,
    };
    Ok(message)
}

/// One attempt at one due mail, if this sender gets it.
async fn send_one(
    store: &Store,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mail: QueuedMail,
    first_retry: Duration,
) {
    let lease = unix_ms() + LEASE.as_millis() as i64;
    match store.claim_mail(&mail, lease).await {
        Ok(true) => {}
        Ok(false) => return, // another node took it
        Err(e) => return tracing::warn!(error = %e, "mail outbox: cannot claim"),
    }
    let sent = async {
        let from: Address = mail.sender.parse()?;
        let to: Address = mail.recipient.parse()?;
        let envelope = lettre::address::Envelope::new(Some(from), vec![to])?;
        transport.send_raw(&envelope, &mail.message).await?;
        anyhow::Ok(())
    }
    .await;
    let now = unix_ms();
    let recorded = match sent {
        Ok(()) => {
            tracing::info!(to = %mail.recipient, subject = %mail.subject, "mail sent");
            store.mail_sent(mail.id, now).await
        }
        Err(e) => {
            let attempts = mail.attempts + 1;
            let retry_at = (attempts < MAX_ATTEMPTS).then(|| now + backoff(first_retry, attempts).as_millis() as i64);
            let error = format!("{e:#}");
            match retry_at {
                Some(_) => tracing::warn!(to = %mail.recipient, %error, attempts, "mail not sent; will retry"),
                None => tracing::error!(to = %mail.recipient, %error, attempts, "mail not sent; giving up"),
            }
            store.mail_failed(mail.id, retry_at, &error).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "mail outbox: cannot record the attempt");
    }
}

/// The wait after the `attempts`th failed attempt: `first`, doubling, at most an hour.
fn backoff(first: Duration, attempts: i64) -> Duration {
    let doublings = (attempts - 1).clamp(0, 20) as u32;
    first.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        let first = Duration::from_secs(30);
        assert_eq!(backoff(first, 1), first);
        assert_eq!(backoff(first, 2), Duration::from_secs(60));
        assert_eq!(backoff(first, 3), Duration::from_secs(120));
        assert_eq!(backoff(first, 40), MAX_BACKOFF);
    }

    #[test]
    fn a_mail_with_an_attachment_is_multipart_and_names_the_file() {
        let from: Mailbox = "Switchboard <pbx@example.com>".parse().unwrap();
        let mail = Mail {
            to: "alice@example.com".into(),
            subject: "Voicemail from +15550100001".into(),
            text: "A message for you.".into(),
            attachment: Some(File {
                name: "voicemail.wav".into(),
                content_type: wav(),
                data: b"RIFF....WAVE".to_vec(),
            }),
        };
        let text = String::from_utf8(compose(&from, &mail).unwrap().formatted()).unwrap();
        assert!(text.contains("To: alice@example.com"), "{text}");
        assert!(text.contains("Subject: Voicemail from +15550100001"), "{text}");
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("filename=\"voicemail.wav\""), "{text}");
        let bad = Mail {
            to: "not an address".into(),
            ..mail
        };
        assert!(compose(&from, &bad).is_err());
    }
}
