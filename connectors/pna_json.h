/* pna_json: one RFC 5423 notification as a JSON line (as Cyrus emits it, as
 * our Dovecot script writes it) into a pna.Event. A pure function over a
 * buffer, no I/O, fuzzed by tests/fuzz/fuzz_json.c. Used by pna-feed.
 *
 * The JSON format (one object per line, UTF-8):
 *
 *   "event"          required: an RFC 5423 event name, case-insensitive, so
 *                    Dovecot's "MailboxUnsubscribe" and its ox driver's
 *                    "messageNew" are taken; "SieveNotify" for targeted
 *                    Sieve notifications; "vnd.cmu.MessageCopy" and
 *                    "vnd.cmu.MessageMove" become MessageAppend. Any other
 *                    name (Cyrus's MailboxModseq, AclChange...) is refused.
 *   "account"        the mailbox owner, user@domain (pnad's direct form);
 *   "mailbox"        the mailbox name with '/' as separator ("INBOX/Work");
 *   "oldMailbox"     the old name (MailboxRename; the source of a copy/move).
 *   "uri", "mailboxID", "oldMailboxID"
 *                    kept as given; when one is an IMAP URL (RFC 5092,
 *                    imap://user@host/Mailbox;UIDVALIDITY=n/;UID=m) it also
 *                    gives what the direct fields above do not: the account
 *                    is the URL's user (split from the host at the LAST '@',
 *                    ";AUTH=" dropped, percent-decoded), the mailbox is the
 *                    percent-decoded path, uidvalidity and uid its
 *                    parameters. "uri" is looked at before "mailboxID"
 *                    (Cyrus now puts a unique id there, not a URL);
 *                    oldMailboxID gives oldMailbox.
 *   "user"           the authorization id; also the account when neither
 *                    "account" nor a URL names one (Login, Logout).
 *   "folder", "imap-uidvalidity", "imap-uid"
 *                    Dovecot ox names for mailbox, uidvalidity, uid.
 *   integers         uidvalidity, uid, uidnext, messages, unseen (also
 *                    "vnd.cmu.unseenMessages"), maxMessages, pid, clientPort
 *                    and serverPort (0..65535): unsigned 32-bit; modseq,
 *                    messageSize, diskQuota, diskUsed: 0..2^63-1. A JSON
 *                    integer, an integral non-negative number, or a string
 *                    of decimal digits.
 *   strings          uidset, flagNames (or an array of strings, joined with
 *                    ' '), tags (or an array, joined with ','), admin,
 *                    clientIP, serverDomain, serverFQDN, service, timestamp,
 *                    process, bodyStructure, target, text; envelope and
 *                    messageContent as bytes.
 *   "spam"           true/false (also 0/1, "true"/"false").
 *   anything else    into params[] as (name, value): a string value as is,
 *                    any other value as its compact JSON text.
 *
 * A JSON null counts as absent. Every event needs an account (user@domain,
 * the route key); message, flag and mailbox events need a mailbox,
 * MailboxRename the old one, SieveNotify a target; a uidset must parse
 * (lib/uidset) -- the checks pnad makes, so that one bad line cannot get a
 * whole batch refused. The account (domain lower-cased) and mailbox
 * names ("INBOX" spelled so) come out in lib/names' canonical form. */
#ifndef PNA_JSON_H
#define PNA_JSON_H

#include <stddef.h>

#include "pna.pb-c.h"

struct arena;

/* Parse line[0..len) (one JSON object, surrounding white space allowed) into
 * *out, which is initialised first. Strings and arrays are allocated from
 * `a` and live until arena_reset; nothing else outlives the call. 0, or with
 * a static reason in *why: -EBADMSG (not JSON, not an object, a value of the
 * wrong type or out of range, a malformed IMAP URL or uidset), -EINVAL (no
 * or unknown event, a required field missing, a name lib/names refuses),
 * -ENOMEM (the arena's limit). */
int pna_json_event(const char *line, size_t len, struct arena *a, Pna__Event *out,
		   const char **why);

#endif
