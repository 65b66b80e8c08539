//! Fingerprinted prints: a print's `!re` rows hashed as they are decoded, so a print that
//! hashes as the last one is answered `Same` without a word copied out of the decoder; and
//! [`Connection::prints`], several prints (fingerprinted or not) in one round trip.

use super::{Connection, Record, Response, Stream, DECODER_KEEP};
use crate::router::error::RouterError;
use crate::routeros::codec::RawSentence;
use crate::routeros::reply::RowsFingerprint;
use crate::routeros::{CommandBuilder, Decoder, Reply};
use std::time::{Duration, Instant};

/// A print's `!re` rows for one tag, fingerprinted as they arrive; their wire bytes are
/// kept only to be parsed if the fingerprint turns out to differ.
pub(super) struct Digest {
    tag: Vec<u8>,
    print: RowsFingerprint,
    held: Vec<u8>,
    /// Where this print's size is remembered in `Connection::held_sizes`.
    size_slot: usize,
}

/// Hands `raw` to the digest of its tag; true when one took it (a `!re` of a digested print).
pub(super) fn take_row(digests: &mut [Digest], raw: &RawSentence<'_>) -> bool {
    let mut words = raw.words();
    if words.next() != Some(b"!re".as_slice()) {
        return false;
    }
    let Some(tag) = words.find_map(|w| w.strip_prefix(b".tag=")) else {
        return false;
    };
    let Some(digest) = digests.iter_mut().find(|d| d.tag == tag) else {
        return false;
    };
    digest.print.add_row(raw);
    raw.encode_into(&mut digest.held);
    true
}

/// What a fingerprinted print found against the fingerprint it was given.
#[derive(Debug)]
pub enum Fingerprinted {
    /// The rows hash as before: none was copied out of the decoder.
    Same,
    /// Different rows, still in wire form, with their fingerprint.
    Changed { rows: HeldRows, fingerprint: u64 },
}

/// A changed print's rows as the decoder held them (wire form): parsed one row at a time,
/// so no more than one row's words are copied out at once.
#[derive(Debug)]
pub struct HeldRows {
    wire: Vec<u8>,
    count: usize,
}

impl HeldRows {
    /// Parses every row with `parse`, in order.
    pub fn parse<T>(self, mut parse: impl FnMut(&Record) -> T) -> Vec<T> {
        let mut out = Vec::with_capacity(self.count);
        let mut rows = Decoder::from_bytes(self.wire);
        while let Ok(Some(raw)) = rows.next_raw() {
            let record = Record {
                attributes: Reply::parse_owned(raw.to_sentence()).attributes,
            };
            out.push(parse(&record));
        }
        out
    }
}

/// One print of [`Connection::prints`].
pub struct Print {
    pub command: CommandBuilder,
    /// `Some((skip, last))`: fingerprint the rows leaving out the `skip` attributes, and
    /// answer `Same` when they hash as `last`.
    pub fingerprint: Option<(&'static [&'static str], Option<u64>)>,
}

/// What one print of [`Connection::prints`] answered.
#[derive(Debug)]
pub enum Printed {
    Rows(Response),
    Fingerprinted(Fingerprinted),
}

impl<S: Stream> Connection<S> {
    /// Runs `prints` in one round trip: written together, each answered by its tag (a trap
    /// fails only its print). Returns each print's answer and its time from write to `!done`.
    pub fn prints(
        &mut self,
        prints: Vec<Print>,
        deadline: Instant,
    ) -> Vec<(Result<Printed, RouterError>, Option<Duration>)> {
        // `pipeline` tags the commands it writes in order from `next_tag`.
        let first_tag = self.next_tag;
        let mut commands = Vec::with_capacity(prints.len());
        let mut fingerprints = Vec::with_capacity(prints.len());
        for (k, print) in prints.into_iter().enumerate() {
            if let Some((skip, last)) = print.fingerprint {
                let tag = (first_tag + k as u64).to_string().into_bytes();
                self.begin_digest(tag.clone(), print.command.path(), skip);
                fingerprints.push(Some((tag, last)));
            } else {
                fingerprints.push(None);
            }
            commands.push(print.command);
        }
        let window = commands.len();
        let timeout = deadline.saturating_duration_since(Instant::now());
        let piped = self.pipeline(commands, window, deadline, timeout);
        let answers = piped
            .results
            .into_iter()
            .zip(fingerprints)
            .zip(piped.elapsed)
            .map(|((result, fingerprint), elapsed)| {
                let answer = match fingerprint {
                    None => result.map(Printed::Rows),
                    Some((tag, last)) => {
                        let fingerprinted = self.finish_digest(&tag, last);
                        result.and_then(|_| {
                            fingerprinted
                                .map(Printed::Fingerprinted)
                                .ok_or(RouterError::Closed)
                        })
                    }
                };
                (answer, elapsed)
            })
            .collect();
        self.digests = Vec::new();
        self.decoder.shrink_idle(DECODER_KEEP);
        answers
    }

    /// Starts digesting the rows tagged `tag` of a print of `path`.
    fn begin_digest(&mut self, tag: Vec<u8>, path: &[u8], skip: &'static [&'static str]) {
        let size_slot = match self.held_sizes.iter().position(|(p, _)| p == path) {
            Some(slot) => slot,
            None => {
                self.held_sizes.push((path.to_vec(), 0));
                self.held_sizes.len() - 1
            }
        };
        self.digests.push(Digest {
            tag,
            print: RowsFingerprint::new(skip),
            // A little over last time's size, so a print that grew a row still fits.
            held: Vec::with_capacity(self.held_sizes[size_slot].1 * 9 / 8),
            size_slot,
        });
    }

    /// Ends the digest of `tag`: `Same` when its rows hash as `last`, else the rows held.
    fn finish_digest(&mut self, tag: &[u8], last: Option<u64>) -> Option<Fingerprinted> {
        let at = self.digests.iter().position(|d| d.tag == tag)?;
        let digest = self.digests.swap_remove(at);
        self.held_sizes[digest.size_slot].1 = digest.held.len();
        let fingerprint = digest.print.finish();
        if last == Some(fingerprint) {
            return Some(Fingerprinted::Same);
        }
        Some(Fingerprinted::Changed {
            rows: HeldRows {
                count: digest.print.rows(),
                wire: digest.held,
            },
            fingerprint,
        })
    }
}
