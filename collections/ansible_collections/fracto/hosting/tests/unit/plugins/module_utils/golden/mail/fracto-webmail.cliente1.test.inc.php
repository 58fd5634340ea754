<?php
// managed by fracto.hosting mail_server: webmail=webmail.cliente1.test
$config['product_name'] = 'Webmail cliente1.test';
$config['imap_host'] = 'ssl://127.0.0.1:993';
$config['smtp_host'] = 'ssl://127.0.0.1:465';
$config['imap_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => 'mail.cliente1.test', 'cafile' => '/etc/fracto/lab/roots.pem']];
$config['smtp_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => 'mail.cliente1.test', 'cafile' => '/etc/fracto/lab/roots.pem']];
$config['managesieve_host'] = 'tls://127.0.0.1:4190';
$config['managesieve_conn_options'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => 'mail.cliente1.test', 'cafile' => '/etc/fracto/lab/roots.pem']];
