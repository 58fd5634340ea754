<?php
// managed by fracto.hosting mail_server
$config = [];
include('/etc/roundcube/debian-db-roundcube.php');
// Dovecot and Postfix of this host on the loopback, verified by the (branded) mail name each webmail serves.
$config['imap_host'] = 'ssl://127.0.0.1:993';
$config['smtp_host'] = 'ssl://127.0.0.1:465';
$config['imap_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => 'mail01.fracto.test', 'cafile' => '/etc/fracto/lab/roots.pem']];
$config['smtp_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => 'mail01.fracto.test', 'cafile' => '/etc/fracto/lab/roots.pem']];
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['des_key'] = 'abcdefghijklmnopqrstuvwx';
$config['product_name'] = 'Webmail';
// managesieve: each mailbox's filters and "Out of Office" replies (Settings), kept by Dovecot's ManageSieve (4190,
// STARTTLS; the host per webmail name, in its own file).
$config['plugins'] = ['managesieve'];
$config['managesieve_vacation'] = 1;
$config['skin'] = 'elastic';
$config['force_https'] = true;
$config['use_https'] = true;
$config['login_autocomplete'] = 0;
// Logins, failed ones included (with the client's address), to the journal as 'roundcube': fail2ban's roundcube-auth
// jail reads them there (roles/fracto_mail/templates/etc/fail2ban/jail.d/fracto.local.j2).
$config['log_driver'] = 'syslog';
$config['syslog_id'] = 'roundcube';
$config['log_logins'] = true;
$config['include_host_config'] = [
    'webmail.cliente1.test' => 'fracto-webmail.cliente1.test.inc.php',
    'webmail.reseller-demo.test' => 'fracto-webmail.reseller-demo.test.inc.php'
];
