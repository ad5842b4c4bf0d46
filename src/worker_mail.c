/*
 * worker_mail.c
 *		crux-export-worker's email: the address check, and the message that
 *		carries an export's file (attached up to --attach-limit, otherwise named)
 *		through SMTP. A message whose job's lease is lost while it is sent is
 *		abandoned before its end, so that the server delivers nothing.
 */
#define _GNU_SOURCE				/* asprintf */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/*
 * One plain address, local@domain: no spaces or control characters (CR, LF,
 * NUL cannot reach here), none of the characters that make a header hold more
 * than one address or a display name (<>,;:"()[]\), one @ with text on both
 * sides, at most 254 bytes.
 */
bool
address_is_plain(const char *address)
{
	const char *at = strchr(address, '@');
	size_t		len = strlen(address);

	if (len > 254 || at == NULL || at == address || at[1] == '\0' || strchr(at + 1, '@'))
		return false;
	for (const unsigned char *p = (const unsigned char *) address; *p; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("<>,;:\"()[]\\", *p) != NULL)
			return false;
	return true;
}

/* libcurl's progress callback: non-zero abandons the transfer. */
static int
stop_if_lost(void *lease, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			 curl_off_t ulnow)
{
	const char *reason;

	(void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
	return lease_lost(lease, NULL, &reason) ? 1 : 0;
}

/* Emails the file (attached up to the limit); returns NULL or an error text. */
char *
send_email(const Options *opt, const Job *job, const char *path, long rows, long bytes)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	curl_mime  *mime;
	curl_mimepart *part;
	struct curl_slist *headers = NULL;
	char	   *text;
	char	   *subject;
	char	   *from;
	char	   *to;
	char		errbuf[CURL_ERROR_SIZE] = "";
	CURLcode	rc;
	char	   *error = NULL;
	bool		attach = bytes <= opt->attach_limit;

	if (curl == NULL)
		return strdup("could not initialise libcurl");
	if (asprintf(&text, "Your crux_orders export %s is ready: %ld rows, %ld bytes.\r\n%s%s\r\n",
				 job->uuid, rows, bytes,
				 attach ? "The CSV file is attached: " : "The file is too large to attach; it is at ",
				 path) < 0 ||
		asprintf(&subject, "Subject: crux_orders export %s", job->uuid) < 0 ||
		asprintf(&from, "From: <%s>", opt->from) < 0 ||
		asprintf(&to, "To: <%s>", job->email) < 0)
		abort();

	headers = curl_slist_append(headers, subject);
	headers = curl_slist_append(headers, from);
	headers = curl_slist_append(headers, to);
	rcpt = curl_slist_append(rcpt, job->email);
	mime = curl_mime_init(curl);
	part = curl_mime_addpart(mime);
	curl_mime_data(part, text, CURL_ZERO_TERMINATED);
	curl_mime_type(part, "text/plain; charset=utf-8");
	if (attach)
	{
		part = curl_mime_addpart(mime);
		curl_mime_filedata(part, path);
		curl_mime_type(part, "text/csv; charset=utf-8");
		curl_mime_encoder(part, "base64");
	}
	curl_easy_setopt(curl, CURLOPT_URL, opt->smtp_url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, opt->from);
	if (opt->smtp_user != NULL)
	{
		curl_easy_setopt(curl, CURLOPT_USERNAME, opt->smtp_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, opt->smtp_password ? opt->smtp_password : "");
	}
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, stop_if_lost);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, job->lease);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK &&
		asprintf(&error, "email to %s failed: %s", job->email,
				 errbuf[0] ? errbuf : curl_easy_strerror(rc)) < 0)
		abort();
	curl_mime_free(mime);
	curl_slist_free_all(headers);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	free(text);
	free(subject);
	free(from);
	free(to);
	return error;
}

