<?php
// Cliente Uno's site on the old platform: a small PHP page that reads its title and text from MariaDB.
// Fixture of the fracto.hosting lab (molecule/lab/roles/lab_legacy), written for the migration scenario.
require __DIR__ . '/wp-config.php';
mysqli_report(MYSQLI_REPORT_OFF);
$db = @new mysqli(DB_HOST, DB_USER, DB_PASSWORD, DB_NAME);
if ($db->connect_errno) {
    http_response_code(500);
    echo "<!DOCTYPE html>\n<html><head><title>Database error</title></head><body><p>The database is not reachable.</p></body></html>\n";
    exit;
}
$db->set_charset(DB_CHARSET);
$page = $db->query("SELECT title, body FROM " . $table_prefix . "pages WHERE slug = 'home'")->fetch_assoc();
$title = htmlspecialchars($page['title'], ENT_QUOTES, 'UTF-8');
$body = htmlspecialchars($page['body'], ENT_QUOTES, 'UTF-8');
?>
<!DOCTYPE html>
<html lang="es">
<head>
<meta charset="utf-8">
<title><?php echo $title; ?></title>
<link rel="stylesheet" href="assets/style.css">
</head>
<body>
<h1><?php echo $title; ?></h1>
<p class="content"><?php echo $body; ?></p>
<p><a href="docs/horario.txt">Horario</a></p>
</body>
</html>
