/**
 * Imports every service module so it registers its listeners. One line per service;
 * each protocol's issue adds its own line.
 */
import "../pop3/service.ts";
import "../admin/service.ts";
import "../delivery/install.ts";
import "../smtp/service.ts";
import "../queue/service.ts";
import "../imap/service.ts";
